// When inputs go out. The node applies one input a tick (a queue in
// server/src/runner/inputs.rs), so the client sends one a tick on a fixed
// schedule: sending more often backs the queue up until the node folds two
// inputs into one step, sending less often runs it dry so the node holds
// the last input a step longer; either is a step the client did not
// predict, and so a correction.
//
// A move key that goes down or up between two slots should move the own
// player on its frame, not up to a tick later. So a change sends at once
// and takes the next slot early: that slot's timer then sends nothing, and
// the rate stays one a tick. At most one slot is taken ahead; a second
// change before that slot comes is sent when it does (again taking the
// slot after it early). Pure, so `test/predict.test.js` plays it against a
// simulated node; `main.js` drives it with timers.

/** A timer this late (a throttled tab) starts the schedule again from now rather than sending a burst. */
const RESTART_AFTER_TICKS = 3;

export class InputClock {
  /** @param {number} tickMs the match's tick length */
  constructor(tickMs) {
    this.tickMs = tickMs;
    /** When the next slot is (ms), or null when stopped. */
    this.due = null;
    /** Whether the slot at `due` was already taken by an early send. */
    this.ahead = false;
    /** Whether a change came while ahead and waits for the slot. */
    this.pending = false;
  }

  get running() {
    return this.due !== null;
  }

  /** Starts the schedule: the first slot is one tick from `now`. */
  start(now) {
    this.due = now + this.tickMs;
    this.ahead = false;
    this.pending = false;
  }

  stop() {
    this.due = null;
  }

  /**
   * The slot at `due` has come (`now` is when the timer ran): whether to
   * send, after which `due` is the next slot.
   */
  slot(now) {
    if (this.due === null) return false;
    let send;
    if (this.ahead) {
      // This slot's input went early; a change since takes the next one.
      send = this.pending;
      this.ahead = this.pending;
    } else {
      send = true;
    }
    this.pending = false;
    this.due += this.tickMs;
    if (now - this.due > RESTART_AFTER_TICKS * this.tickMs) this.due = now + this.tickMs;
    return send;
  }

  /** A move key changed at `now`: whether to send at once. */
  change() {
    if (this.due === null) return false;
    if (this.ahead) {
      this.pending = true;
      return false;
    }
    this.ahead = true;
    return true;
  }
}
