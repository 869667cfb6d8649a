// The admin dashboard's data, apart from the page: what it keeps of the
// polled cluster views and the series its charts draw. Pure, so
// `test/admin.test.js` checks it without a browser.

/** Samples kept per chart: ten minutes at one every two seconds. */
export const KEEP = 300;

/** The charts: a title and what each node contributes to it. */
export const CHARTS = [
  { id: 'players', title: 'Players', pick: (n) => n.players },
  { id: 'matches', title: 'Matches', pick: (n) => n.matches },
  { id: 'tick', title: 'Tick duration p99 (ms)', pick: (n) => n.stats?.tick_p99_ms ?? null },
  { id: 'queued', title: 'Queued players', pick: (n) => sum(n.stats?.queued) },
  { id: 'match_time', title: 'Time to match p99 (s)', pick: (n) => n.stats?.time_to_match_p99_s ?? null },
  { id: 'outbox', title: 'Outbox: results waiting', pick: (n) => n.stats?.outbox_pending ?? null },
  { id: 'redis', title: 'Redis round trip p99 (ms)', pick: (n) => n.stats?.redis_p99_ms ?? null },
];

/** The sum of an object's values (`null` for none). */
export function sum(byKey) {
  if (!byKey) return null;
  return Object.values(byKey).reduce((a, b) => a + b, 0);
}

/** What the dashboard has seen: each poll's time and nodes, oldest first. */
export class History {
  constructor(keep = KEEP) {
    this.keep = keep;
    this.samples = [];
  }

  /** Adds a `GET /api/admin/cluster` answer. */
  add(view) {
    this.samples.push({ t: view.at_ms / 1000, nodes: new Map(view.nodes.map((n) => [n.id, n])) });
    if (this.samples.length > this.keep) this.samples.splice(0, this.samples.length - this.keep);
  }

  /** Every node seen in the kept samples, sorted. */
  nodeIds() {
    const ids = new Set();
    for (const s of this.samples) for (const id of s.nodes.keys()) ids.add(id);
    return [...ids].sort();
  }

  /**
   * uPlot's data for a chart: times, then per node (in `ids` order) its
   * value at each time, `null` where it was not live or did not say.
   */
  series(chart, ids) {
    const times = this.samples.map((s) => s.t);
    const lines = ids.map((id) =>
      this.samples.map((s) => {
        const node = s.nodes.get(id);
        const value = node ? chart.pick(node) : null;
        return value === undefined ? null : value;
      }),
    );
    return [times, ...lines];
  }
}

/** A figure for the table: `–` when absent, else rounded. */
export function figure(value, digits = 1) {
  if (value === null || value === undefined) return '–';
  return Number.isInteger(value) ? String(value) : value.toFixed(digits);
}
