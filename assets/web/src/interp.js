// Entity interpolation for everything the client does not control.
//
// Snapshots arrive at the tick rate with network jitter, so drawing remote
// players at their newest position makes them stutter. Instead we draw the
// world a little in the past ("render time") and blend between the two
// snapshots around that time.
//
// How far in the past adapts to the network: each snapshot's arrival is
// measured against a steady clock at the tick rate, and render time trails
// the earliest arrivals by one interval (so there are two snapshots to
// blend) plus how late the latest of them come (the 95th percentile over
// the last two seconds) plus half an interval of margin: two intervals on a
// steady network, more as jitter grows. When a snapshot is later still,
// remote players carry on at their last velocity for up to
// `MAX_EXTRAPOLATE_MS` and then stop, rather than freezing at once.

const MAX_SNAPSHOTS = 64;
// Beyond this distance between two snapshots an entity teleported (a
// respawn), and blending would draw it sliding across the arena.
const TELEPORT_DISTANCE = 150;
// If render time is further than this from where it should be (a tab that
// was hidden, a stall, a burst of late snapshots), jump instead of easing.
const SNAP_TICKS = 5;
// Playback speed may bend by this much to catch up or fall back smoothly.
const MAX_SPEED_CHANGE = 0.25;
const SPEED_GAIN = 0.15;
// A frame longer than this (the page was throttled) advances the clock by
// no more; the snap above then catches up in one step instead of the clock
// overshooting and crawling back.
const MAX_FRAME_MS = 100;
/** The shortest render delay, in snapshot intervals. */
export const MIN_DELAY_TICKS = 2;
/** The longest render delay: a network worse than this is not hidden. */
export const MAX_DELAY_MS = 300;
/** Arrivals measured for the delay: two seconds at 30 Hz. */
const ARRIVALS_KEPT = 60;
/** How far past the newest snapshot remote players are carried on. */
export const MAX_EXTRAPOLATE_MS = 100;

export class SnapshotBuffer {
  /** @param {number} tickRate server ticks per second */
  constructor(tickRate) {
    this.tickMs = 1000 / tickRate;
    this.snapshots = [];
    /** Each kept snapshot's arrival less its tick's time on a steady clock (ms). */
    this.arrivals = [];
    /** The earliest of `arrivals`: where a snapshot arriving on time would. */
    this.onTime = 0;
    /** How far render time trails `onTime`, in ticks. */
    this.delayTicks = MIN_DELAY_TICKS;
    this.renderTick = null;
    this.lastFrame = 0;
  }

  clear() {
    this.snapshots.length = 0;
    this.arrivals.length = 0;
    this.renderTick = null;
  }

  get latest() {
    return this.snapshots.length ? this.snapshots[this.snapshots.length - 1] : null;
  }

  /** The render delay in ms, as measured so far. */
  get delayMs() {
    return this.delayTicks * this.tickMs;
  }

  /** Adds a snapshot; `now` is its arrival time (performance.now()). */
  push(snapshot, now) {
    const latest = this.latest;
    // Snapshots are delivered in order, but a resumed match or a new match
    // may restart the tick count: start over rather than mix two timelines.
    if (latest && snapshot.tick <= latest.tick) this.clear();
    this.snapshots.push(snapshot);
    if (this.snapshots.length > MAX_SNAPSHOTS) this.snapshots.shift();
    this.arrivals.push(now - snapshot.tick * this.tickMs);
    if (this.arrivals.length > ARRIVALS_KEPT) this.arrivals.shift();
    const sorted = [...this.arrivals].sort((a, b) => a - b);
    this.onTime = sorted[0];
    const late = sorted[Math.floor(0.95 * (sorted.length - 1))] - this.onTime;
    const ticks = 1.5 + late / this.tickMs;
    this.delayTicks = Math.min(Math.max(ticks, MIN_DELAY_TICKS), MAX_DELAY_MS / this.tickMs);
  }

  /**
   * Advances the render clock to `now` and returns the tick (fractional) to
   * draw. The clock runs at the tick rate and is nudged towards "the tick
   * on time at `now`, less the delay", so jitter and a changing delay bend
   * the playback speed by a few percent instead of making it jump. It runs
   * at most `MAX_EXTRAPOLATE_MS` past the newest snapshot.
   */
  advance(now) {
    const latest = this.latest;
    if (!latest) return null;
    const target = (now - this.onTime) / this.tickMs - this.delayTicks;
    if (this.renderTick !== null) {
      const dt = Math.min(Math.max(0, now - this.lastFrame), MAX_FRAME_MS) / this.tickMs;
      const error = target - this.renderTick;
      const speed = 1 + Math.max(-MAX_SPEED_CHANGE, Math.min(MAX_SPEED_CHANGE, error * SPEED_GAIN));
      this.renderTick += dt * speed;
    }
    if (this.renderTick === null || Math.abs(target - this.renderTick) > SNAP_TICKS) {
      this.renderTick = target;
    }
    this.renderTick = Math.min(this.renderTick, latest.tick + MAX_EXTRAPOLATE_MS / this.tickMs);
    this.lastFrame = now;
    return this.renderTick;
  }

  /**
   * The two snapshots around `tick` and the blend factor between them.
   * Past the newest, the newest two and a factor past 1 (at most
   * `MAX_EXTRAPOLATE_MS` on), which carries motion on at its last velocity.
   */
  bracket(tick) {
    const list = this.snapshots;
    if (!list.length) return null;
    const last = list[list.length - 1];
    if (list.length === 1) return { from: last, to: last, t: 0 };
    if (tick >= last.tick) {
      const from = list[list.length - 2];
      const ahead = Math.min(tick - last.tick, MAX_EXTRAPOLATE_MS / this.tickMs);
      return { from, to: last, t: 1 + ahead / (last.tick - from.tick) };
    }
    if (tick <= list[0].tick) return { from: list[0], to: list[0], t: 0 };
    for (let i = list.length - 1; i > 0; i--) {
      const from = list[i - 1];
      if (from.tick <= tick) {
        const to = list[i];
        return { from, to, t: (tick - from.tick) / (to.tick - from.tick) };
      }
    }
    return { from: list[0], to: list[0], t: 0 };
  }

  /**
   * Interpolated players and projectiles at `tick`: players as a Map by id,
   * projectiles as an array. Players take every field but position and aim
   * from the later snapshot, so health and death line up with movement.
   */
  sample(tick) {
    const b = this.bracket(tick);
    if (!b) return null;
    const { from, to, t } = b;
    const players = new Map();
    const before = indexById(from.players);
    for (const p of to.players) {
      const q = before.get(p.id);
      if (!q || teleported(q, p)) {
        // Switch over halfway rather than blend across the jump (nor carry
        // a respawn or a death on).
        players.set(p.id, q && t < 0.5 ? q : p);
      } else {
        players.set(p.id, {
          ...p,
          x: lerp(q.x, p.x, t),
          y: lerp(q.y, p.y, t),
          // Aim is not carried on past the newest: a turn is not a glide.
          aim: t < 1 ? lerpAngle(q.aim, p.aim, t) : p.aim,
        });
      }
    }
    const projectiles = [];
    if (from === to) {
      projectiles.push(...to.projectiles);
    } else {
      // Only shots present in both snapshots are drawn: a new shot appears
      // one tick later and a spent one vanishes one tick earlier, which is
      // invisible at 900 u/s, whereas guessing their paths is not.
      const shotsBefore = indexById(from.projectiles);
      for (const s of to.projectiles) {
        const r = shotsBefore.get(s.id);
        if (r) projectiles.push({ id: s.id, x: lerp(r.x, s.x, t), y: lerp(r.y, s.y, t), dx: s.x - r.x, dy: s.y - r.y });
      }
    }
    return { tick, players, projectiles, packs: to.packs };
  }
}

function indexById(list) {
  const map = new Map();
  for (const item of list) map.set(item.id, item);
  return map;
}

function teleported(a, b) {
  return Math.hypot(b.x - a.x, b.y - a.y) > TELEPORT_DISTANCE || (a.health === 0) !== (b.health === 0);
}

export function lerp(a, b, t) {
  return a + (b - a) * t;
}

/** Blends two angles the short way round (−π and π are neighbours). */
export function lerpAngle(a, b, t) {
  let d = b - a;
  if (d > Math.PI) d -= 2 * Math.PI;
  else if (d < -Math.PI) d += 2 * Math.PI;
  let r = a + d * t;
  if (r > Math.PI) r -= 2 * Math.PI;
  else if (r < -Math.PI) r += 2 * Math.PI;
  return r;
}
