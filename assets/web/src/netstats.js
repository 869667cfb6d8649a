// The figures of the net stats overlay (toggled with the N key): round trip
// and its jitter, snapshots lost (ticks the node stepped that no snapshot
// showed) and how evenly they arrive, over the last few seconds. Pure, so
// `test/netstats.test.js` checks it without a browser.

/** Samples kept: about four seconds of snapshots at 30 Hz. */
const KEEP = 120;

export class NetStats {
  constructor() {
    this.rtts = [];
    this.arrivals = [];
  }

  /** A ping's round trip, in ms. */
  rtt(ms) {
    this.rtts.push(ms);
    if (this.rtts.length > KEEP) this.rtts.shift();
  }

  /** A snapshot of `tick` arrived at `now` (ms). */
  snapshot(tick, now) {
    const last = this.arrivals.at(-1);
    // A new match or a reconnect starts the count again.
    if (last && tick <= last.tick) this.arrivals.length = 0;
    this.arrivals.push({ tick, at: now });
    if (this.arrivals.length > KEEP) this.arrivals.shift();
  }

  /** Forgets the snapshots (a new match). */
  clear() {
    this.arrivals.length = 0;
  }

  /**
   * `{rttMs, rttJitterMs, lostPct, arrivalJitterMs}` at `tickRate`, each
   * null until there is something to say.
   */
  summary(tickRate) {
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const out = { rttMs: null, rttJitterMs: null, lostPct: null, arrivalJitterMs: null };
    if (this.rtts.length) {
      out.rttMs = mean(this.rtts);
      out.rttJitterMs = mean(this.rtts.map((r) => Math.abs(r - out.rttMs)));
    }
    const a = this.arrivals;
    if (a.length >= 2) {
      const expected = a.at(-1).tick - a[0].tick + 1;
      out.lostPct = (100 * (expected - a.length)) / expected;
      // How far each arrival strays from a steady clock at the tick rate,
      // measured from the first: the spread a render buffer must absorb.
      const tickMs = 1000 / tickRate;
      const offsets = a.map((s) => s.at - a[0].at - (s.tick - a[0].tick) * tickMs);
      const m = mean(offsets);
      out.arrivalJitterMs = mean(offsets.map((o) => Math.abs(o - m)));
    }
    return out;
  }
}

/** The overlay's text; `renderDelayMs` is how far behind others are drawn (interp.js), or null. */
export function overlayText(net, prediction, tickRate, renderDelayMs = null) {
  const s = net.summary(tickRate);
  const ms = (v) => (v === null ? '–' : `${v.toFixed(1)} ms`);
  const lines = [
    `round trip ${ms(s.rttMs)} (jitter ${ms(s.rttJitterMs)})`,
    `snapshots lost ${s.lostPct === null ? '–' : `${s.lostPct.toFixed(1)}%`}, arrival jitter ${ms(s.arrivalJitterMs)}`,
    `others drawn ${ms(renderDelayMs)} behind`,
  ];
  lines.push(
    prediction
      ? `corrections ${prediction.perSecond.toFixed(1)}/s, largest ${prediction.largest.toFixed(1)} units`
      : 'prediction off in this game',
  );
  return lines.join('\n');
}
