// Entity interpolation for everything the client does not control.
//
// Snapshots arrive at the tick rate with network jitter, so drawing remote
// players at their newest position makes them stutter. Instead we draw the
// world a little in the past ("render time" = newest tick time − delay) and
// blend between the two snapshots around that time. The delay trades a
// little latency for smooth motion even when a snapshot is late or skipped.

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

export class SnapshotBuffer {
  /**
   * @param {number} tickRate server ticks per second
   * @param {number} delayMs how far behind the newest snapshot to render
   */
  constructor(tickRate, delayMs) {
    this.tickMs = 1000 / tickRate;
    this.delayTicks = delayMs / this.tickMs;
    this.snapshots = [];
    this.latestArrival = 0;
    this.renderTick = null;
    this.lastFrame = 0;
  }

  clear() {
    this.snapshots.length = 0;
    this.renderTick = null;
  }

  get latest() {
    return this.snapshots.length ? this.snapshots[this.snapshots.length - 1] : null;
  }

  /** Adds a snapshot; `now` is its arrival time (performance.now()). */
  push(snapshot, now) {
    const latest = this.latest;
    // Snapshots are delivered in order, but a resumed match or a new match
    // may restart the tick count: start over rather than mix two timelines.
    if (latest && snapshot.tick <= latest.tick) this.clear();
    this.snapshots.push(snapshot);
    if (this.snapshots.length > MAX_SNAPSHOTS) this.snapshots.shift();
    this.latestArrival = now;
  }

  /**
   * Advances the render clock to `now` and returns the tick (fractional) to
   * draw. The clock runs at the tick rate and is nudged towards
   * "newest tick + time since it arrived − delay", so arrival jitter bends
   * the playback speed by a few percent instead of making it jump.
   * Never runs past the newest snapshot: time drawn ahead of the data would
   * have to be paid back later as a freeze.
   */
  advance(now) {
    const latest = this.latest;
    if (!latest) return null;
    // rAF timestamps are the frame's start, which can precede the arrival
    // of a message handled in the same frame.
    const sinceArrival = Math.max(0, Math.min(now - this.latestArrival, 4 * this.tickMs));
    const target = latest.tick + sinceArrival / this.tickMs - this.delayTicks;
    if (this.renderTick !== null) {
      const dt = Math.min(Math.max(0, now - this.lastFrame), MAX_FRAME_MS) / this.tickMs;
      const error = target - this.renderTick;
      const speed = 1 + Math.max(-MAX_SPEED_CHANGE, Math.min(MAX_SPEED_CHANGE, error * SPEED_GAIN));
      this.renderTick += dt * speed;
    }
    if (this.renderTick === null || Math.abs(target - this.renderTick) > SNAP_TICKS) {
      this.renderTick = target;
    }
    this.renderTick = Math.min(this.renderTick, latest.tick);
    this.lastFrame = now;
    return this.renderTick;
  }

  /**
   * The two snapshots around `tick` and the blend factor between them. When
   * `tick` is past the newest snapshot (it starved), holds the newest rather
   * than extrapolating: a pause is less wrong than a guess through a wall.
   */
  bracket(tick) {
    const list = this.snapshots;
    if (!list.length) return null;
    if (tick >= list[list.length - 1].tick || list.length === 1) {
      const last = list[list.length - 1];
      return { from: last, to: last, t: 0 };
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
        // Switch over halfway rather than blend across the jump.
        players.set(p.id, q && t < 0.5 ? q : p);
      } else {
        players.set(p.id, {
          ...p,
          x: lerp(q.x, p.x, t),
          y: lerp(q.y, p.y, t),
          aim: lerpAngle(q.aim, p.aim, t),
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
