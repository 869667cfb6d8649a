// The admin dashboard (`/admin`): polls `GET /api/admin/cluster` with the
// admin token every two seconds, lists the live nodes with their figures,
// and charts them over the last ten minutes with uPlot. The token comes
// from `#token=` in the address (then removed from it) or the form, and is
// kept for the tab's session only.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { CHARTS, History, figure, sum } from './admin_data.js';

const POLL_MS = 2000;
const TOKEN_KEY = 'skirmish-admin-token';
const COLOURS = ['#88c0d0', '#a3be8c', '#ebcb8b', '#d08770', '#b48ead', '#bf616a', '#5e81ac', '#8fbcbb'];

const $ = (id) => document.getElementById(id);
const seen = new History();
const charts = new Map();
let chartedIds = '';
let timer = null;

/** What tests read: the status, the nodes listed, their latest counts, and points charted. */
const state = { status: 'starting', error: null, nodes: [], points: 0, latest: {} };
window.__admin = state;

function takeToken() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    window.history.replaceState(null, '', location.pathname);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function setStatus(status, text) {
  state.status = status;
  $('status').textContent = text;
  $('status').className = `status ${status}`;
}

function refuse(code, message) {
  state.error = code;
  setStatus('refused', `refused: ${code}`);
  $('refusal').textContent = message;
  $('login').hidden = false;
  $('live').hidden = true;
}

async function poll() {
  clearTimeout(timer);
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    refuse('no_token', 'Enter the admin token (admin_token in the node configuration).');
    return;
  }
  try {
    const response = await fetch('/api/admin/cluster', { headers: { Authorization: `Bearer ${token}` } });
    const body = await response.json();
    if (response.status === 401 || response.status === 403) {
      refuse(body.error, body.message);
      return;
    }
    if (!response.ok) throw new Error(`${body.error}: ${body.message}`);
    show(body);
  } catch (err) {
    setStatus('error', `cannot read the cluster: ${err.message}`);
  }
  timer = setTimeout(poll, POLL_MS);
}

function show(view) {
  state.error = null;
  $('login').hidden = true;
  $('live').hidden = false;
  seen.add(view);
  state.nodes = view.nodes.map((n) => n.id);
  state.latest = Object.fromEntries(view.nodes.map((n) => [n.id, { players: n.players, matches: n.matches }]));
  setStatus('live', `${view.nodes.length} live node${view.nodes.length === 1 ? '' : 's'}, seen from ${view.self}`);
  table(view.nodes);
  drawCharts();
}

function table(nodes) {
  const rows = nodes.map((n) => {
    const s = n.stats ?? {};
    const transports = s.transports ?? {};
    const cells = [
      n.id,
      n.players,
      `${transports.ws ?? 0} / ${transports.wt ?? 0}`,
      n.matches,
      s.tick_p99_ms == null ? '–' : `${figure(s.tick_p99_ms, 2)} ms`,
      figure(sum(s.queued)),
      `${figure(s.time_to_match_p50_s)} / ${figure(s.time_to_match_p99_s)} s`,
      s.outbox_pending ? `${s.outbox_pending} (oldest ${figure(s.outbox_oldest_s)} s)` : '0',
      s.redis_p99_ms == null ? '–' : `${figure(s.redis_p99_ms, 2)} ms`,
      `${figure(n.age_ms / 1000)} s ago`,
    ];
    const tr = document.createElement('tr');
    tr.dataset.node = n.id;
    for (const cell of cells) {
      const td = document.createElement('td');
      td.textContent = String(cell);
      tr.append(td);
    }
    return tr;
  });
  $('nodes').tBodies[0].replaceChildren(...rows);
}

function drawCharts() {
  const ids = seen.nodeIds();
  const key = ids.join(',');
  if (key !== chartedIds) {
    // A node came or went: the charts are made again with its series.
    for (const chart of charts.values()) chart.plot.destroy();
    charts.clear();
    $('charts').replaceChildren();
    chartedIds = key;
    for (const spec of CHARTS) charts.set(spec.id, makeChart(spec, ids));
  }
  for (const [id, chart] of charts) chart.plot.setData(seen.series(CHARTS.find((c) => c.id === id), ids));
  state.points = seen.samples.length;
}

function makeChart(spec, ids) {
  const box = document.createElement('div');
  box.className = 'chart';
  box.dataset.chart = spec.id;
  const title = document.createElement('h2');
  title.textContent = spec.title;
  box.append(title);
  $('charts').append(box);
  const width = Math.max(360, box.clientWidth - 12);
  const plot = new uPlot(
    {
      width,
      height: 180,
      scales: { x: { time: true } },
      axes: [
        { stroke: '#8fa1b3', grid: { stroke: '#2b3340' } },
        { stroke: '#8fa1b3', grid: { stroke: '#2b3340' } },
      ],
      series: [{}, ...ids.map((id, i) => ({ label: id, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: false }))],
    },
    seen.series(spec, ids),
    box,
  );
  return { plot };
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
  $('token').value = '';
  poll();
});

takeToken();
poll();
