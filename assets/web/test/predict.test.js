// Prediction and reconciliation against a simulated node: `npm --prefix
// assets/web test`. The client sends inputs as the page does
// (input_clock.js) and predicts each; the node steps the same movement
// rules at 30 Hz, applying the inputs that have arrived one a tick in order
// (folding the oldest when more than three wait, and once when more than
// one has waited beyond the tick's for 150 ticks), as the engine's runner does
// (server/src/runner/inputs.rs), and sends snapshots that place the
// player in steps of 1/8 unit; the network between delays, jitters and
// drops both ways. Time runs in steps of 1 ms, so keys change between ticks
// as they do under a player's fingers.

import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { moveDir, movementRules, step } from '../src/movement.js';
import { parseSetup } from '../src/protocol.js';
import { AGREE_UNITS, Predictor } from '../src/predict.js';
import { InputClock } from '../src/input_clock.js';

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
 * One way of the network: `oneWayMs` ± `jitterMs`, dropping `loss` of the
 * messages. Without loss it is a WebSocket, in order; with loss, datagrams,
 * which may also overtake each other.
 */
function link(random, { oneWayMs, jitterMs, loss }) {
  let last = 0;
  return (now) => {
    if (random() < loss) return null;
    let at = now + oneWayMs + (random() * 2 - 1) * jitterMs;
    if (loss === 0) at = Math.max(at, last);
    last = at;
    return at;
  };
}

/**
 * Plays `seconds` of move keys changing about every half second, at any
 * moment between ticks, then `idle` seconds with no key, through `link`s
 * each way. Returns the predictor and the node's final state.
 *
 * `sender` is how the client times its inputs: 'clock' as the page does
 * (a change goes at once in the next slot's place); 'restart' as the page
 * did before (a change goes at once and the tick timer starts again from
 * it); 'slot' (a change waits for the next slot). `node` is 'queue' (one a
 * tick, as inputs.rs) or 'newest' (only the newest input of a tick counts,
 * as the node did before).
 */
function play({ seconds, idle, oneWayMs, jitterMs, loss, seed, node = 'queue', sender = 'clock', repeat = loss > 0, stall = null }) {
  const random = rng(seed);
  const up = link(random, { oneWayMs, jitterMs, loss });
  const down = link(random, { oneWayMs, jitterMs, loss });
  const predictor = new Predictor(RULES, TICK_RATE);
  let server = [...scenario.start, 0, 0];
  // The first snapshot (the spawn, at rest) comes before any key.
  predictor.authoritative(0, server[0], server[1], true, 0);
  const toServer = [];
  const toClient = [];
  let applied = { seq: 0, dir: [0, 0] };
  let surplus = 0;
  // Inputs left waiting after each tick's: the node's input delay in ticks.
  const depths = [];
  const waiting = [];
  let seq = 0;
  let key = [0, 0];
  const clock = new InputClock(TICK_MS);
  clock.start(0);
  let due = TICK_MS;
  let nodeTick = random() * TICK_MS;
  let changeAt = 200 + random() * 300;
  const sent = [];
  const send = (now) => {
    seq += 1;
    predictor.input(seq, key[0], key[1]);
    const input = { seq, dir: [Math.fround(key[0]), Math.fround(key[1])] };
    // Over datagrams each input repeats the two before it (`earlier`).
    const earlier = repeat ? sent.slice(-2).reverse() : [];
    sent.push(input);
    let at = up(now);
    // A stall `[from, ms]` holds everything sent in it until it ends.
    if (at !== null && stall && now >= stall[0] && now < stall[0] + stall[1]) at += stall[0] + stall[1] - now;
    if (at !== null) toServer.push({ at, ...input, earlier });
  };
  const endMs = (seconds + idle) * 1000;
  for (let now = 0; now <= endMs; now += 1) {
    toClient.sort((a, b) => a.at - b.at);
    while (toClient.length && toClient[0].at <= now) {
      const s = toClient.shift();
      predictor.authoritative(s.ack, s.x, s.y, true, s.at);
    }
    if (now >= changeAt) {
      changeAt += 400 + random() * 200;
      const next = now < seconds * 1000 ? KEYS[Math.floor(random() * KEYS.length)] : [0, 0];
      if (next[0] !== key[0] || next[1] !== key[1]) {
        key = next;
        if (sender === 'clock' && clock.change()) send(now);
        if (sender === 'restart') {
          send(now);
          due = now + TICK_MS;
        }
      }
    }
    if (sender === 'clock') {
      while (now >= clock.due) if (clock.slot(now)) send(now);
    } else if (now >= due) {
      send(now);
      due += TICK_MS;
    }
    if (now < nodeTick) continue;
    nodeTick += TICK_MS;
    // The node: inputs that have arrived wait in order (a late one older
    // than what was applied is refused); one is applied a tick, and
    // without one the last is held.
    toServer.sort((a, b) => a.at - b.at);
    const take = (input) => {
      if (input.seq <= (waiting.at(-1)?.seq ?? applied.seq)) return;
      waiting.push(input);
      if (waiting.length > 3) waiting.splice(0, 2, waiting[1]);
    };
    while (toServer.length && toServer[0].at <= now) {
      const input = toServer.shift();
      // The inputs it repeats that never came go first, oldest first.
      for (const e of [...input.earlier].reverse()) take(e);
      take(input);
    }
    if (node === 'newest') {
      if (waiting.length) applied = waiting.at(-1);
      waiting.length = 0;
    } else if (waiting.length) {
      applied = waiting.shift();
      // More than one in hand beyond the tick's for 150 ticks: one is given back.
      surplus = waiting.length > 1 ? surplus + 1 : 0;
      if (surplus >= 150) {
        applied = waiting.shift();
        surplus = 0;
      }
    } else {
      surplus = 0;
    }
    depths.push({ at: now, waiting: waiting.length });
    server = step(server, moveDir(...applied.dir), RULES, TICK_RATE);
    const eighth = (v) => Math.round(v * 8) / 8;
    const at = down(now);
    if (at !== null) toClient.push({ at, ack: applied.seq, x: eighth(server[0]), y: eighth(server[1]) });
  }
  return { predictor, server, end: endMs, depths };
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
  const rate = (o) => {
    let corrections = 0;
    let largest = 0;
    for (const seed of [7, 8, 9]) {
      const { predictor } = play({ seconds: 10, idle: 2, seed, oneWayMs: 75, ...o });
      corrections += predictor.corrections;
      largest = Math.max(largest, predictor.largest);
    }
    return { perSecond: corrections / 36, largest };
  };
  const networks = {
    'no jitter, no loss': { jitterMs: 0, loss: 0 },
    '±10 ms jitter, no loss': { jitterMs: 10, loss: 0 },
    '±20 ms jitter, no loss': { jitterMs: 20, loss: 0 },
    'no jitter, 5% loss': { jitterMs: 0, loss: 0.05 },
    '±20 ms jitter, 5% loss': { jitterMs: 20, loss: 0.05 },
  };
  const ways = {
    now: {},
    'a change restarting the timer': { sender: 'restart' },
    'the newest input a tick': { node: 'newest' },
    'no repeats in datagrams': { repeat: false },
  };
  const rows = {};
  for (const [name, network] of Object.entries(networks)) {
    rows[name] = {};
    for (const [way, o] of Object.entries(ways)) rows[name][way] = rate({ ...network, ...o });
    const cells = Object.entries(rows[name]).map(
      ([way, r]) => `${way}: ${r.perSecond.toFixed(1)}/s, largest ${r.largest.toFixed(1)}`,
    );
    console.log(`# 150 ms round trip, ${name}: ${cells.join('; ')}`);
  }
  // Latency alone costs nothing, with keys changing between ticks.
  assert.equal(rows['no jitter, no loss'].now.perSecond, 0);
  // On a WebSocket (in order, nothing lost) jitter is absorbed by the
  // node's queue, whereas a change that restarted the timer sent an input
  // more than one a tick, which the node had to fold away.
  for (const name of ['±10 ms jitter, no loss', '±20 ms jitter, no loss']) {
    assert.ok(rows[name].now.perSecond < 0.2, `${name}: ${rows[name].now.perSecond}/s`);
    assert.ok(rows[name]['a change restarting the timer'].perSecond > 0.5, name);
  }
  // Datagrams that overtake each other: the newest a tick skipped steps.
  const overtaken = rows['±20 ms jitter, 5% loss'];
  assert.ok(overtaken['the newest input a tick'].perSecond > 1.5 * overtaken.now.perSecond);
  // A lost datagram's input comes in the next one's `earlier`: without
  // that, each lost at a key change was a step the node held the last
  // input for instead.
  for (const name of ['no jitter, 5% loss', '±20 ms jitter, 5% loss']) {
    const r = rows[name];
    assert.ok(r.now.perSecond < 0.5, `${name}: ${r.now.perSecond}/s`);
    assert.ok(r['no repeats in datagrams'].perSecond > 3 * r.now.perSecond, name);
  }
});

test('a key change sends at once in the next slot\'s place, one slot ahead at most', () => {
  const clock = new InputClock(30);
  clock.start(0);
  assert.equal(clock.slot(30), true, 'a slot sends');
  assert.equal(clock.change(35), true, 'a change goes at once…');
  assert.equal(clock.slot(60), false, '…in the place of the next slot');
  assert.equal(clock.slot(90), true);
  assert.equal(clock.change(95), true);
  assert.equal(clock.change(100), false, 'a second change before that slot waits for it');
  assert.equal(clock.slot(120), true, 'and goes there, in the place of the slot after');
  assert.equal(clock.slot(150), false);
  assert.equal(clock.slot(180), true);
  // A throttled tab's timer, a second late, starts again rather than bursting.
  assert.equal(clock.slot(1200), true);
  assert.equal(clock.due, 1230);
  clock.stop();
  assert.equal(clock.change(1210), false, 'stopped: nothing goes');
});

test('a tick the node held an input for costs one correction, not one a snapshot', () => {
  const predictor = new Predictor(RULES, TICK_RATE);
  const [x0, y0] = scenario.start;
  predictor.authoritative(0, x0, y0, true, 0);
  // Starting from rest to the right, where velocity still grows each tick.
  for (let seq = 1; seq <= 12; seq++) predictor.input(seq, 1, 0);
  // The node: inputs 1 to 3, 3 again (none had come), then 4 onwards.
  const right = moveDir(1, 0);
  let node = [x0, y0, 0, 0];
  const eighth = (v) => Math.round(v * 8) / 8;
  for (let seq = 1; seq <= 12; seq++) {
    node = step(node, right, RULES, TICK_RATE);
    if (seq === 3) {
      predictor.authoritative(3, eighth(node[0]), eighth(node[1]), true, seq * TICK_MS);
      node = step(node, right, RULES, TICK_RATE);
    }
    predictor.authoritative(seq, eighth(node[0]), eighth(node[1]), true, seq * TICK_MS);
  }
  assert.equal(predictor.corrections, 1);
  assert.ok(Math.abs(predictor.state[0] - node[0]) <= AGREE_UNITS);
});

test("a stall's extra input delay is given back within seconds, but for one tick", () => {
  // 150 ms round trip; keys for 2 s, then none (no key change sends an
  // input early, which would fold the queue back at its limit of 3); at
  // 3 s the way up stalls for 200 ms (6 ticks).
  const { predictor, depths } = play({ seconds: 2, idle: 10, seed: 7, oneWayMs: 75, jitterMs: 0, loss: 0, stall: [3000, 200] });
  const mean = (from, to) => {
    const d = depths.filter((x) => x.at >= from && x.at < to);
    return d.reduce((a, x) => a + x.waiting, 0) / d.length;
  };
  const before = mean(2000, 3000);
  const after = mean(3500, 5000);
  const end = mean(10000, 12000);
  console.log(`# inputs waiting on the node: ${before.toFixed(2)} before the stall, ${after.toFixed(2)} after it, ${end.toFixed(2)} 7 s on; ${predictor.corrections} corrections`);
  assert.ok(after >= before + 1.75, 'the stall left more waiting');
  assert.ok(end <= before + 1.2, 'and all but one tick of it was given back');
});
