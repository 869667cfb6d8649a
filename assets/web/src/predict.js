// Client-side prediction and reconciliation of the own player, with the
// game's own movement rules (movement.js, the node's to the bit):
//
// - Each input sent is applied at once to the predicted state and kept
//   with the state it led to.
// - A snapshot that acknowledges input N carries where the node put the
//   player after N. When that agrees with the prediction after N (within
//   the snapshot's quantisation) nothing changes. When it does not (the node
//   applied inputs on other ticks than the client did, a shot or a respawn
//   moved the player), the prediction restarts from the node's position at N
//   and replays the inputs after N: a correction.
// - A correction is not drawn as a jump: the drawn position keeps the old
//   one's offset and lets it decay over about 100 ms, unless it is larger
//   than `SNAP_UNITS` (a respawn), which is shown at once.
//
// Velocity is not in snapshots: a restart keeps the predicted velocity at N.

import { moveDir, step } from './movement.js';

/** Predicted and node positions this close agree: snapshots place players in steps of 1/8 unit. */
export const AGREE_UNITS = 0.25;
/** A correction larger than this is shown at once (a respawn, not an error). */
export const SNAP_UNITS = 100;
/** How fast a correction's offset fades: it falls to 1/e in this time. */
export const SMOOTH_MS = 100;
/** Inputs kept for replay; more unacknowledged than this and the oldest go. */
const MAX_HISTORY = 128;
/** Ticks a node may have held an input for, looked for in a correction. */
const MAX_HELD_TICKS = 3;
/** Corrections counted over this window for the per-second rate. */
const RATE_WINDOW_MS = 5000;

export class Predictor {
  /**
   * @param rules what `movementRules` made of the match's setup
   * @param tickRate the match's ticks per second
   */
  constructor(rules, tickRate) {
    this.rules = rules;
    this.tickRate = tickRate;
    /** `[x, y, vx, vy]` after every input sent, or null before the first snapshot. */
    this.state = null;
    /** Inputs not yet acknowledged: `{seq, dir, after}`. */
    this.history = [];
    /** The drawn position's offset from the prediction, fading. */
    this.offset = [0, 0];
    this.offsetAt = 0;
    /** When corrections happened (ms), for the rate. */
    this.correctionTimes = [];
    /** The largest correction so far, in units (respawns left out). */
    this.largest = 0;
    this.corrections = 0;
  }

  /** Applies an input about to be sent (its stick `moveX`, `moveY`). */
  input(seq, moveX, moveY) {
    if (!this.state) return;
    const dir = moveDir(moveX, moveY);
    this.state = step(this.state, dir, this.rules, this.tickRate);
    this.history.push({ seq, dir, after: this.state });
    if (this.history.length > MAX_HISTORY) this.history.shift();
  }

  /**
   * A snapshot: the node put the own player at `(x, y)` after input `ack`
   * (`alive` false while dead: nothing to predict). `now` in ms.
   */
  authoritative(ack, x, y, alive, now) {
    if (!alive) {
      this.state = null;
      this.history.length = 0;
      this.offset = [0, 0];
      return;
    }
    if (!this.state) {
      this.state = [x, y, 0, 0];
      this.history = this.history.filter((h) => h.seq > ack);
      return;
    }
    const acked = this.history.find((h) => h.seq === ack);
    this.history = this.history.filter((h) => h.seq > ack);
    // Before the first acknowledged input, the node's position is all there is.
    const predicted = acked?.after ?? (this.history.length ? null : this.state);
    if (!predicted) return;
    const error = Math.hypot(predicted[0] - x, predicted[1] - y);
    if (error <= AGREE_UNITS) return;
    const drawnBefore = this.drawn(now);
    // The usual cause: no input reached the node in time, so it held input
    // N for a tick or two more than the client did. Then the node's state,
    // velocity too, is N's stepped again; restarting with N's velocity
    // instead would be corrected again on every snapshot until friction
    // evened them out.
    const velocity = (acked && heldVelocity(predicted, acked.dir, x, y, this.rules, this.tickRate)) ?? [predicted[2], predicted[3]];
    let state = [x, y, velocity[0], velocity[1]];
    for (const h of this.history) {
      state = step(state, h.dir, this.rules, this.tickRate);
      h.after = state;
    }
    this.state = state;
    if (error > SNAP_UNITS) {
      this.offset = [0, 0];
      return;
    }
    this.offset = [drawnBefore[0] - state[0], drawnBefore[1] - state[1]];
    this.offsetAt = now;
    this.corrections += 1;
    this.largest = Math.max(this.largest, error);
    this.correctionTimes.push(now);
  }

  /** Where to draw the own player at `now`: the prediction plus the fading offset; null before any snapshot. */
  drawn(now) {
    if (!this.state) return null;
    const fade = Math.exp(-Math.max(0, now - this.offsetAt) / SMOOTH_MS);
    return [this.state[0] + this.offset[0] * fade, this.state[1] + this.offset[1] * fade];
  }

  /** Corrections per second over the last few seconds. */
  correctionRate(now) {
    while (this.correctionTimes.length && now - this.correctionTimes[0] > RATE_WINDOW_MS) this.correctionTimes.shift();
    return (this.correctionTimes.length * 1000) / RATE_WINDOW_MS;
  }
}

/**
 * The velocity after `state` (the prediction after an input moving
 * `dir`) stepped again with `dir` for one to `MAX_HELD_TICKS` ticks, if one
 * of those lands at `(x, y)`; else null.
 */
function heldVelocity(state, dir, x, y, rules, tickRate) {
  let held = state;
  for (let k = 0; k < MAX_HELD_TICKS; k++) {
    held = step(held, dir, rules, tickRate);
    if (Math.hypot(held[0] - x, held[1] - y) <= AGREE_UNITS) return [held[2], held[3]];
  }
  return null;
}
