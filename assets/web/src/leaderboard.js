// The leaderboard panel: a board and period to pick, the top ten, and the
// page around the player, refreshed when shown, after each match and every
// 30 s while open. Queries go over the WebSocket (`leaderboard`), matched to
// their answers by request id.

import * as proto from './protocol.js';

const REFRESH_MS = 30_000;
const DEFAULT_BOARDS = ['kills', 'best_score', 'rating'];
const LABELS = { kills: 'Kills', best_score: 'Best score', rating: 'Rating' };
const PERIODS = [
  ['all_time', 'All time'],
  ['weekly', 'This week'],
  ['daily', 'Today'],
];

/** "resets in 3 h 20 min" from a reset time in Unix ms. */
export function resetsIn(resetsAtMs, now = Date.now()) {
  if (resetsAtMs === null || resetsAtMs === undefined) return '';
  const minutes = Math.max(0, Math.round((resetsAtMs - now) / 60_000));
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  if (days > 0) return `resets in ${days} d ${hours} h`;
  if (hours > 0) return `resets in ${hours} h ${mins} min`;
  return `resets in ${mins} min`;
}

export class LeaderboardPanel {
  constructor({ send, playerId }) {
    this.send = send;
    this.playerId = playerId;
    this.nextRequest = 1;
    this.pending = new Map();
    this.top = null;
    this.around = null;
    this.board = 'kills';
    this.period = 'all_time';
    this.el = {
      panel: document.getElementById('leaderboard'),
      toggle: document.getElementById('leaderboard-toggle'),
      board: document.getElementById('lb-board'),
      period: document.getElementById('lb-period'),
      resets: document.getElementById('lb-resets'),
      top: document.getElementById('lb-top'),
      around: document.getElementById('lb-around'),
    };
    this.fillSelect(this.el.board, DEFAULT_BOARDS.map((b) => [b, LABELS[b] ?? b]), this.board);
    this.fillSelect(this.el.period, PERIODS, this.period);
    this.el.board.addEventListener('change', () => {
      this.board = this.el.board.value;
      this.refresh();
    });
    this.el.period.addEventListener('change', () => {
      this.period = this.el.period.value;
      this.refresh();
    });
    this.el.toggle.addEventListener('click', () => {
      this.el.panel.classList.toggle('collapsed');
      if (this.visible) this.refresh();
    });
    setInterval(() => this.visible && this.refresh(), REFRESH_MS);
    // The boards the node defines, when it says.
    fetch('/api/leaderboards')
      .then((r) => (r.ok ? r.json() : null))
      .then((body) => {
        const ids = body?.boards?.map((b) => b.id);
        if (ids?.length) this.fillSelect(this.el.board, ids.map((b) => [b, LABELS[b] ?? b]), this.board);
      })
      .catch(() => {});
  }

  get visible() {
    return !this.el.panel.classList.contains('collapsed');
  }

  fillSelect(select, options, value) {
    select.replaceChildren(
      ...options.map(([v, label]) => {
        const o = document.createElement('option');
        o.value = v;
        o.textContent = label;
        o.selected = v === value;
        return o;
      }),
    );
  }

  /**
   * Asks for the top ten and the eleven entries centred on the player.
   * Answers to earlier asks still on their way are dropped when they come:
   * the node answers queries concurrently, so an answer for the board shown
   * before could otherwise land after, and replace, the one for this board.
   */
  refresh() {
    this.pending.clear();
    for (const [kind, options] of [
      ['top', { limit: 10 }],
      ['around', { aroundMe: true, limit: 11 }],
    ]) {
      const id = this.nextRequest++;
      this.pending.set(id, kind);
      this.send(proto.leaderboard(id, this.board, this.period, options));
    }
  }

  /** Handles an answer; returns whether it was one of ours. */
  apply(msg) {
    if (msg.type !== 'leaderboard') return false;
    const kind = this.pending.get(msg.requestId);
    if (!kind) return true;
    this.pending.delete(msg.requestId);
    this[kind] = msg;
    this.render();
    return true;
  }

  render() {
    const { el } = this;
    el.resets.textContent = resetsIn(this.top?.resetsAtMs);
    const rows = (page) =>
      (page?.entries ?? []).map((e) => {
        const tr = document.createElement('tr');
        if (e.playerId === this.playerId()) tr.className = 'me';
        for (const v of [e.rank, e.name, e.score]) {
          const td = document.createElement('td');
          td.textContent = String(v);
          tr.append(td);
        }
        return tr;
      });
    el.top.replaceChildren(...rows(this.top));
    el.around.replaceChildren(...rows(this.around));
  }

  /** For the test hook. */
  snapshot() {
    const plain = (page) =>
      page && { board: page.board, period: page.period, total: page.total, resetsAtMs: page.resetsAtMs, entries: page.entries };
    return { top: plain(this.top), around: plain(this.around) };
  }
}
