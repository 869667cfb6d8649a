// Prediction and reconciliation against a simulated node: `npm --prefix
// assets/web test`. The node steps the same movement rules at 30 Hz,
// applying the inputs that have arrived one a tick in order (folding the
// oldest when more than three wait), as the engine's runner does
// (server/src/runner/inputs.rs), and sends snapshots that place the player
// in steps of 1/8 unit; the network between delays, jitters and drops both
// ways.

import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { moveDir, movementRules, step } from '../src/movement.js';
import { parseSetup } from '../src/protocol.js';
import { AGREE_UNITS, Predictor } from '../src/predict.js';

const vectors = JSON.parse(readFileSync(new URL('./vectors/movement.json', import.meta.url), 'utf8'));
const scenario = vectors.scenarios[0];
const RULES = movementRules(parseSetup('arena', scenario.setup));
const TICK_RATE = 30;
const TICK_MS = 1000 / TICK_RATE;

/** A seeded generator, so every run sees the same network. */
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = [
  [1, 0], [Math.SQRT1_2, Math.SQRT1_2], [0, 1], [-Math.SQRT1_2, Math.SQRT1_2],
  [-1, 0], [-Math.SQRT1_2, -Math.SQRT1_2], [0, -1], [Math.SQRT1_2, -Math.SQRT1_2], [0, 0],
];

/**
 * Plays `seconds` of keys changing every half second, then `idle` seconds
 * with no key, through a network of `oneWayMs` ± `jitterMs` that drops
 * `loss` of the messages each way. Returns the predictor and the node's
 * final state.
 */
function play({ seconds, idle, oneWayMs, jitterMs, loss, seed, policy = 'queue' }) {
  const random = rng(seed);
  const delay = () => oneWayMs + (random() * 2 - 1) * jitterMs;
  const predictor = new Predictor(RULES, TICK_RATE);
  let server = [...scenario.start, 0, 0];
  // The first snapshot (the spawn, at rest) comes before any key.
  predictor.authoritative(0, server[0], server[1], true, 0);
  const toServer = [];
  const toClient = [];
  let applied = { seq: 0, dir: [0, 0] };
  const waiting = [];
  let seq = 0;
  let key = [0, 0];
  const endMs = (seconds + idle) * 1000;
  for (let tick = 1; tick * TICK_MS <= endMs; tick++) {
    const now = tick * TICK_MS;
    // The client: snapshots that have arrived, then this tick's input.
    toClient.sort((a, b) => a.at - b.at);
    while (toClient.length && toClient[0].at <= now) {
      const s = toClient.shift();
      predictor.authoritative(s.ack, s.x, s.y, true, s.at);
    }
    if (tick % 15 === 1) key = now < seconds * 1000 ? KEYS[Math.floor(random() * KEYS.length)] : [0, 0];
    seq += 1;
    predictor.input(seq, key[0], key[1]);
    if (random() >= loss) toServer.push({ at: now + delay(), seq, dir: [Math.fround(key[0]), Math.fround(key[1])] });
    // The node: inputs that have arrived wait in order (a late one older
    // than what was applied is refused); one is applied a tick, and
    // without one the last is held.
    toServer.sort((a, b) => a.at - b.at);
    while (toServer.length && toServer[0].at <= now) {
      const input = toServer.shift();
      if (input.seq > (waiting.at(-1)?.seq ?? applied.seq)) waiting.push(input);
      if (waiting.length > 3) waiting.splice(0, 2, waiting[1]);
    }
    if (policy === 'newest') {
      // The node before: only the newest input of a tick counted.
      if (waiting.length) applied = waiting.at(-1);
      waiting.length = 0;
    } else if (waiting.length) {
      applied = waiting.shift();
    }
    server = step(server, moveDir(...applied.dir), RULES, TICK_RATE);
    const eighth = (v) => Math.round(v * 8) / 8;
    if (random() >= loss) toClient.push({ at: now + delay(), ack: applied.seq, x: eighth(server[0]), y: eighth(server[1]) });
  }
  return { predictor, server, end: endMs };
}

test('with no latency or loss the prediction is never corrected', () => {
  const { predictor, server, end } = play({ seconds: 10, idle: 1, oneWayMs: 0, jitterMs: 0, loss: 0, seed: 1 });
  assert.equal(predictor.corrections, 0);
  const [x, y] = predictor.drawn(end);
  assert.ok(Math.hypot(x - server[0], y - server[1]) <= AGREE_UNITS);
});

test('under 150 ms of latency, jitter and 5% loss the prediction converges once keys are released', () => {
  // 75 ms each way (a 150 ms round trip), ± 20 ms, 5% of messages lost each way.
  const { predictor, server, end } = play({ seconds: 10, idle: 2, oneWayMs: 75, jitterMs: 20, loss: 0.05, seed: 7 });
  const [x, y] = predictor.drawn(end + 500);
  const off = Math.hypot(x - server[0], y - server[1]);
  assert.ok(off <= AGREE_UNITS, `drawn ${off.toFixed(3)} units from the node's position`);
  assert.ok(predictor.corrections > 0, 'lost inputs make corrections: the test exercises them');
  console.log(
    `# 150 ms, ±20 ms, 5% loss: ${predictor.corrections} corrections in 12 s, largest ${predictor.largest.toFixed(2)} units`,
  );
});

test('a correction is smoothed, not drawn as a jump, and a respawn is shown at once', () => {
  const predictor = new Predictor(RULES, TICK_RATE);
  const [x0, y0] = scenario.start;
  predictor.authoritative(0, x0, y0, true, 0);
  for (let seq = 1; seq <= 10; seq++) predictor.input(seq, 1, 0);
  const before = predictor.drawn(100);
  // The node says the player stood still through input 5.
  predictor.authoritative(5, x0, y0, true, 100);
  assert.equal(predictor.corrections, 1);
  assert.deepEqual(predictor.drawn(100), before, 'no jump on the frame of the correction');
  const later = predictor.drawn(1100);
  const target = predictor.state;
  assert.ok(Math.hypot(later[0] - target[0], later[1] - target[1]) < 0.1, 'faded within a second');
  // Far away: a respawn, drawn where it is.
  predictor.authoritative(10, x0 + 500, y0, true, 700);
  assert.deepEqual(predictor.drawn(700), [x0 + 500, y0]);
  assert.equal(predictor.corrections, 1, 'a respawn is not a correction');
});

test('corrections come from jitter and loss, not from latency (README "Prediction")', () => {
  const rate = (o, policy = 'queue') => {
    let corrections = 0;
    let largest = 0;
    for (const seed of [7, 8, 9]) {
      const { predictor } = play({ seconds: 10, idle: 2, seed, oneWayMs: 75, policy, ...o });
      corrections += predictor.corrections;
      largest = Math.max(largest, predictor.largest);
    }
    return { perSecond: corrections / 36, largest };
  };
  const rows = {
    'no jitter, no loss': rate({ jitterMs: 0, loss: 0 }),
    'no jitter, 5% loss': rate({ jitterMs: 0, loss: 0.05 }),
    '±20 ms jitter, no loss': rate({ jitterMs: 20, loss: 0 }),
    '±20 ms jitter, 5% loss': rate({ jitterMs: 20, loss: 0.05 }),
  };
  const newest = {
    'no jitter, no loss': rate({ jitterMs: 0, loss: 0 }, 'newest'),
    'no jitter, 5% loss': rate({ jitterMs: 0, loss: 0.05 }, 'newest'),
    '±20 ms jitter, no loss': rate({ jitterMs: 20, loss: 0 }, 'newest'),
    '±20 ms jitter, 5% loss': rate({ jitterMs: 20, loss: 0.05 }, 'newest'),
  };
  for (const [name, r] of Object.entries(rows)) {
    const before = ` (newest input a tick: ${newest[name].perSecond.toFixed(1)}/s, largest ${newest[name].largest.toFixed(1)})`;
    console.log(`# 150 ms round trip, ${name}: ${r.perSecond.toFixed(1)} corrections/s, largest ${r.largest.toFixed(1)} units${before}`);
  }
  assert.ok(newest['±20 ms jitter, no loss'].perSecond > 5 * rows['±20 ms jitter, no loss'].perSecond);
  assert.equal(rows['no jitter, no loss'].perSecond, 0);
  // Taken one a tick, a jittered input only costs a correction when none
  // has arrived for a tick and the node holds the last one a step longer
  // than the client did; a lost input at a key change costs one too.
  assert.ok(rows['±20 ms jitter, no loss'].perSecond < 1);
  assert.ok(rows['±20 ms jitter, 5% loss'].perSecond < 3);
});
