#!/usr/bin/env node
// The admin dashboard in Debian's Chromium: without the token (and with a
// wrong one) it is refused and shows why; with `#token=` it lists every
// live node of the cluster, draws its charts as the polls come in, and
// keeps the token out of the address bar.
//
//   node tests/browser/admin.mjs --url http://A/ --token T --nodes a,b --busy a --artifacts DIR
//
// A player stays connected to the `--busy` node throughout, and the page
// must show (and chart) them.
// Prints one JSON line; exits 0 on success and 1 with a reason on failure.

import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fail, main, openPage, pageErrors, until } from './harness.mjs';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    nodes: { type: 'string' },
    busy: { type: 'string' },
    artifacts: { type: 'string', default: 'test-artifacts' },
  },
});
if (!args.url || !args.token || !args.nodes || !args.busy) {
  console.error('usage: admin.mjs --url URL --token T --nodes ID,ID --busy ID [--artifacts DIR]');
  process.exit(2);
}
const base = args.url.replace(/\/$/, '');
const expected = args.nodes.split(',').sort();

/** Whether any pixel of the chart's canvas was drawn. */
const drawn = (id) => {
  const canvas = document.querySelector(`[data-chart="${id}"] canvas`);
  if (!canvas) return false;
  const ctx = canvas.getContext('2d');
  const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
  return false;
};

async function run() {
  const artifacts = resolve(args.artifacts);
  await mkdir(artifacts, { recursive: true });

  // No token: refused, and the form asks for one.
  const bare = await openPage(`${base}/admin`, 'no-token');
  await until(bare, 'the page without a token was not refused', () => window.__admin?.status === 'refused');
  if (!(await bare.locator('#login').isVisible())) fail('no token form');
  // A wrong token, typed in: the node refuses it.
  await bare.locator('#token').fill('not-the-admin-token');
  await bare.locator('#login button').click();
  await until(bare, 'a wrong token was not refused as unauthorized', () => window.__admin?.error === 'unauthorized');
  if (await bare.locator('#live').isVisible()) fail('the cluster showed with a wrong token');

  // The token in the address: every live node listed, charts drawn.
  const page = await openPage(`${base}/admin#token=${encodeURIComponent(args.token)}`, 'admin');
  await until(
    page,
    `the dashboard never listed ${expected.join(', ')}`,
    (ids) => window.__admin?.status === 'live' && ids.every((id) => window.__admin.nodes.includes(id)),
    expected,
  );
  if (page.url().includes('token')) fail(`the token stayed in the address: ${page.url()}`);
  const rows = await page.locator('#nodes tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.node));
  if (JSON.stringify([...rows].sort()) !== JSON.stringify(expected)) fail(`table rows ${rows}`);
  await until(page, `no player shown on ${args.busy}`, (id) => window.__admin.latest[id]?.players >= 1, args.busy);
  const busyRow = await page.locator(`#nodes tr[data-node="${args.busy}"] td:nth-child(2)`).innerText();
  if (Number(busyRow) < 1) fail(`the table shows ${busyRow} players on ${args.busy}`);
  await until(page, 'fewer than three polls were charted', () => window.__admin.points >= 3);
  const charts = await page.locator('[data-chart]').evaluateAll((boxes) => boxes.map((b) => b.dataset.chart));
  for (const id of charts) {
    await until(page, `chart ${id} drew nothing`, drawn, id);
  }
  const legend = await page.locator('[data-chart="players"] .u-legend').innerText();
  for (const id of expected) if (!legend.includes(id)) fail(`the players chart has no series for ${id}: ${legend}`);
  await page.screenshot({ path: join(artifacts, 'admin.png'), fullPage: true });

  if (pageErrors.length) fail(`page errors:\n${pageErrors.join('\n')}`);
  const figures = await page.evaluate(() => window.__admin);
  console.log(JSON.stringify({ nodes: figures.nodes, polls: figures.points, charts: charts.length }));
}

main('admin.mjs', run, 60_000);
