// Unit tests for the client's pure parts: `npm --prefix assets/web test`.
// The byte dumps are the ones PROTOCOL.md documents (and the Rust side checks
// against its codec), so both ends are held to the same bytes.

import { readFileSync } from 'node:fs';
import { decode } from '@msgpack/msgpack';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeServer, encode, input, ping, play, snapshotView } from '../src/protocol.js';
import { Replica, StaleSnapshot, applyDelta } from '../src/replication.js';
import { MIN_DELAY_TICKS, SnapshotBuffer, lerpAngle } from '../src/interp.js';
import { backoffDelay, sessionUrl, socketUrl } from '../src/net.js';
import { RECORD_CLOSE, RecordReader, closeRecord, record } from '../src/transport.js';
import { GameState } from '../src/state.js';

const hex = (s) => Uint8Array.from(s.trim().split(/\s+/), (b) => parseInt(b, 16));

// The byte dump PROTOCOL.md shows after `<!-- dump: NAME -->`, so the
// document stays the one source of the bytes both ends are tested against.
const protocolDoc = readFileSync(new URL('../../../PROTOCOL.md', import.meta.url), 'utf8');
function documentedDump(name) {
  const after = protocolDoc.split(`<!-- dump: ${name} -->`)[1];
  assert.ok(after, `PROTOCOL.md has a ${name} dump`);
  return hex(after.split('```text')[1].split('```')[0]);
}
const toHex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');

test('client messages encode as documented', () => {
  assert.equal(toHex(encode(play())), toHex(documentedDump('play')));
  assert.equal(toHex(encode(ping(1234.5))), toHex(documentedDump('ping')));
  // Inputs hold floats as float64 (as JavaScript encoders write them, which
  // the node accepts), so they are compared as values. The tick others
  // were drawn at goes last, rounded, when there is one.
  assert.deepEqual(input(42, 300, 1, -0.5, 1.5, true), decode(documentedDump('input')));
  assert.deepEqual(input(42, 300, 1, -0.5, 1.5, true, 'arena', 295.6), decode(documentedDump('input_shown')));
  assert.equal(input(42, 300, 1, 0, 0, false, 'arena', null).length, 4, 'nothing drawn yet: no tick');
  // Over datagrams the inputs before it are repeated, newest first.
  const same = { moveX: 1, moveY: -0.5, aim: 1.5, fire: true };
  assert.deepEqual(input(43, 301, 1, -0.5, 1.5, true, 'arena', null, [same, same]), decode(documentedDump('input_earlier')));
  assert.equal(input(43, 301, 1, 0, 0, false, 'arena', null, [same, same, same]).at(-1).length, 2, 'two at most');
});

test('an input repeats the unacknowledged ones just before it, newest first', () => {
  const game = new GameState();
  for (let i = 0; i < 4; i++) game.nextInput({ moveX: i, moveY: 0, aim: 0, fire: false }, i);
  assert.deepEqual(game.unacknowledgedBefore(4, 2).map((p) => p.seq), [3, 2]);
  assert.deepEqual(game.unacknowledgedBefore(4, 2).map((p) => p.moveX), [2, 1]);
  // Input 2 acknowledged: only 3 is left to repeat.
  game.pendingInputs = game.pendingInputs.filter((p) => p.seq > 2);
  assert.deepEqual(game.unacknowledgedBefore(4, 2).map((p) => p.seq), [3]);
  assert.deepEqual(game.unacknowledgedBefore(1, 2), []);
});

test('WebTransport stream records are as documented, and survive any split', () => {
  const playRecord = record(0, encode(play()));
  assert.equal(toHex(playRecord), toHex(documentedDump('wt_play')));
  const close = closeRecord(4004, 'too slow');
  assert.equal(toHex(close), toHex(documentedDump('wt_close')));
  const bytes = new Uint8Array([...playRecord, ...playRecord, ...close]);
  for (const step of [1, 2, 3, 7, bytes.length]) {
    const reader = new RecordReader();
    const got = [];
    for (let i = 0; i < bytes.length; i += step) {
      reader.push(bytes.subarray(i, i + step));
      for (let r = reader.next(); r; r = reader.next()) got.push(r);
    }
    assert.equal(got.length, 3, `in pieces of ${step}`);
    assert.equal(toHex(got[0].payload), toHex(encode(play())));
    assert.deepEqual({ ...got[2] }, { kind: RECORD_CLOSE, code: 4004, reason: 'too slow' });
  }
  const broken = new RecordReader();
  broken.push(new Uint8Array([9, 0, 0, 0, 0]));
  assert.throws(() => broken.next(), /unknown record kind/);
});

test('inputs are clamped to what the node accepts', () => {
  assert.deepEqual(input(7, 300, 2, -3, 4, 1), ['input', 7, 300, [1, -1, Math.PI, true]]);
  assert.deepEqual(input(8, 0, NaN, 0.5, -Infinity, false), ['input', 8, 0, [0, 0.5, 0, false]]);
});


test('the documented welcome decodes', () => {
  const msg = decodeServer(documentedDump('welcome'));
  assert.deepEqual(msg, {
    type: 'welcome',
    protocol: 4,
    playerId: '1f2e3d4c5b6a7988',
    name: 'Ada',
    tickRate: 30,
    resuming: false,
  });
});

// The shared vectors (tests/it/vectors.rs writes them from real matches):
// each game's `joined`, then snapshots with what each decodes to.
const vectors = JSON.parse(readFileSync(new URL('./vectors/replication.json', import.meta.url), 'utf8'));
const unhex = (s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

for (const game of ['arena', 'hill']) {
  test(`every ${game} snapshot of the shared vectors decodes as Rust decoded it`, () => {
    const { joined: joinedHex, snapshots } = vectors[game];
    const joined = decodeServer(unhex(joinedHex));
    assert.equal(joined.type, 'joined');
    assert.equal(joined.game, game);
    const replica = new Replica(joined.schema);
    const states = new Map();
    let deltas = 0;
    for (const { bytes, entities, events } of snapshots) {
      const msg = decodeServer(unhex(bytes));
      assert.equal(msg.type, 'snapshot');
      if (msg.base !== null) deltas += 1;
      const base = msg.base === null ? new Map() : states.get(msg.base);
      const raw = applyDelta(joined.schema, base, msg.data);
      const sorted = (state) => [...state.entries()].sort((a, b) => a[0] - b[0]);
      assert.deepEqual(sorted(raw.state), entities, `tick ${msg.tick}`);
      assert.deepEqual(raw.events, events, `events of tick ${msg.tick}`);
      // The replica, as the page uses it, gets the same state.
      assert.deepEqual(sorted(replica.apply(msg.tick, msg.base, msg.data).state), entities);
      states.set(msg.tick, raw.state);
    }
    assert.ok(deltas > snapshots.length / 2, `mostly deltas: ${deltas} of ${snapshots.length}`);
  });
}

test('a snapshot overtaken by a newer one is dropped, and the newest stays acknowledged', () => {
  const { joined: joinedHex, snapshots } = vectors.arena;
  const replica = new Replica(decodeServer(unhex(joinedHex)).schema);
  const full = decodeServer(unhex(snapshots[0].bytes));
  assert.equal(full.base, null);
  // The same full snapshot as if a newer tick had arrived first.
  replica.apply(full.tick + 5, null, full.data);
  assert.throws(() => replica.apply(full.tick, null, full.data), StaleSnapshot);
  assert.equal(replica.ack(), full.tick + 5);
});

test('the documented snapshots decode into arena units', () => {
  const joined = decodeServer(unhex(vectors.arena.joined));
  const replica = new Replica(joined.schema);
  const ctx = { rules: { projectileSpeed: 900 }, tickRate: 30 };
  const read = (name) => {
    const msg = decodeServer(documentedDump(name));
    const { state, events } = replica.apply(msg.tick, msg.base, msg.data);
    return { ...msg, ...snapshotView('arena', replica, state, events, msg.tick, ctx) };
  };
  const msg = read('snapshot');
  assert.equal(msg.tick, 300);
  assert.equal(msg.ack, 41);
  assert.equal(msg.base, null);
  assert.equal(msg.ticksLeft, 3300);
  const [one, two] = msg.players;
  assert.deepEqual({ ...one, aim: undefined }, { id: 1, x: 150, y: 200, aim: undefined, health: 100, kills: 2, deaths: 0, score: 2 });
  assert.ok(Math.abs(one.aim - 0.5) < 0.004, `aim ${one.aim}`);
  assert.equal(two.health, 0);
  // The shot left (175, 212.5) heading 0.5 rad two ticks before.
  const [shot] = msg.projectiles;
  assert.equal(shot.id, 7);
  assert.ok(Math.abs(shot.x - (175 + Math.cos(0.5) * 60)) < 0.2, `shot x ${shot.x}`);
  assert.deepEqual(msg.packs, [true, false]);
  assert.deepEqual(msg.events, [{ type: 'kill', killer: 1, victim: 2 }]);
  const next = read('snapshot_delta');
  assert.equal(next.base, 300);
  assert.equal(next.players[0].x, 160);
  assert.deepEqual(next.projectiles, []);
  assert.deepEqual(next.packs, [true, true]);
  assert.deepEqual(next.events, []);
});

test('unknown or broken frames are ignored, not thrown', () => {
  assert.equal(decodeServer(encode(['teleport', 'global', 'x'])), null);
  assert.equal(decodeServer(encode(['chat', 'global', 'x'])), null, 'a truncated known message');
  assert.equal(decodeServer(new Uint8Array([0xc1])), null);
  assert.equal(decodeServer(encode({ t: 'welcome' })), null);
});

const snap = (tick, x, health = 100) => ({
  tick,
  players: [{ id: 1, x, y: 0, aim: 0, health }],
  projectiles: [{ id: 9, x: x * 2, y: 0 }],
  packs: [],
});

test('remote players are blended between the bracketing snapshots', () => {
  const buf = new SnapshotBuffer(30);
  for (let i = 0; i < 5; i++) buf.push(snap(10 + i, 10 * i), i * 33);
  const at = buf.sample(11.25);
  assert.equal(at.players.get(1).x, 12.5);
  assert.equal(at.projectiles[0].x, 25);
  // Past the newest snapshot players carry on at their last velocity
  // (10 units a tick), for 100 ms (3 ticks) at most.
  assert.equal(buf.sample(15).players.get(1).x, 50);
  assert.equal(buf.sample(20).players.get(1).x, 70);
  assert.equal(buf.sample(15).projectiles[0].x, 100, 'shots too');
});

test('a death or a respawn is not carried on past the newest snapshot', () => {
  const buf = new SnapshotBuffer(30);
  buf.push(snap(1, 100), 0);
  buf.push(snap(2, 110, 0), 33);
  assert.equal(buf.sample(3).players.get(1).x, 110, 'dead where it fell');
  buf.push(snap(3, 1500), 66);
  assert.equal(buf.sample(4).players.get(1).x, 1500, 'respawned where it stands');
});

test('a respawn is not blended across the arena', () => {
  const buf = new SnapshotBuffer(30);
  buf.push(snap(1, 100, 0), 0);
  buf.push(snap(2, 1500), 33);
  assert.equal(buf.sample(1.4).players.get(1).x, 100);
  assert.equal(buf.sample(1.6).players.get(1).x, 1500);
});

/** A buffer that keeps two intervals whatever the jitter, to compare. */
class FixedDelay extends SnapshotBuffer {
  push(snapshot, now) {
    super.push(snapshot, now);
    this.delayTicks = MIN_DELAY_TICKS;
  }
}

/**
 * Plays `count` snapshots at 30 Hz, each `late(i)` ms after its time, with
 * frames at 60 Hz; returns the buffer and the share of frames drawn past the
 * newest snapshot (carried on rather than blended).
 */
function render(buf, count, late, from = 0) {
  const tickMs = 1000 / 30;
  // In order, as on a WebSocket: a snapshot arrives no earlier than the one before.
  const arrivals = [];
  for (let i = 0; i < count; i++) {
    const at = (from + i) * tickMs + 50 + late(i);
    arrivals.push({ tick: from + i, at: Math.max(at, arrivals.at(-1)?.at ?? at) });
  }
  let starved = 0;
  let frames = 0;
  let next = 0;
  for (let now = from * tickMs; now < (from + count) * tickMs; now += 1000 / 60) {
    while (next < arrivals.length && arrivals[next].at <= now) {
      const a = arrivals[next++];
      buf.push(snap(a.tick, a.tick), a.at);
    }
    const tick = buf.advance(now);
    if (tick === null || now < (from + 60) * tickMs) continue;
    frames += 1;
    if (tick > buf.latest.tick) starved += 1;
  }
  return { buf, starved: starved / frames };
}

test('the render delay is two intervals on a steady network and grows with its jitter', () => {
  const steady = render(new SnapshotBuffer(30), 300, () => 0);
  assert.ok(Math.abs(steady.buf.delayMs - 2000 / 30) < 1e-9, `${steady.buf.delayMs} ms`);
  assert.equal(steady.starved, 0, 'never past the newest');
  // ± 25 ms: a fixed two intervals would often be past the newest.
  let seed = 3;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const jitter = () => random() * 50;
  const adapted = render(new SnapshotBuffer(30), 300, jitter);
  seed = 3;
  const twoTicks = render(new FixedDelay(30), 300, jitter);
  const pct = (r) => `${(r.starved * 100).toFixed(1)}% of frames past the newest`;
  console.log(`# ± 25 ms: delay ${adapted.buf.delayMs.toFixed(0)} ms, ${pct(adapted)}; two intervals: ${pct(twoTicks)}`);
  assert.ok(adapted.buf.delayMs > 90 && adapted.buf.delayMs < 140, `${adapted.buf.delayMs} ms`);
  assert.ok(adapted.starved < 0.03, pct(adapted));
  assert.ok(twoTicks.starved > 5 * adapted.starved, pct(twoTicks));
  // A network that calms down brings the delay back down.
  const calm = render(adapted.buf, 300, () => 0, 300);
  assert.ok(calm.buf.delayMs < 70, `${calm.buf.delayMs} ms`);
});

test('angles blend the short way round', () => {
  assert.ok(Math.abs(Math.abs(lerpAngle(3, -3, 0.5)) - Math.PI) < 1e-9);
  assert.equal(lerpAngle(0, 1, 0.5), 0.5);
});

test('reconnect delays use full jitter under a 10 s cap', () => {
  assert.equal(backoffDelay(0, () => 1), 500);
  assert.equal(backoffDelay(3, () => 1), 4000);
  assert.equal(backoffDelay(10, () => 1), 10_000);
  assert.equal(backoffDelay(5, () => 0), 0);
});

test('chat history and live lines merge without repeats, in id order', async () => {
  const { applyLobby, compareIds } = await import('../src/lobby.js');
  const rooms = new Map();
  const line = (id, text) => ({ type: 'chat', room: 'global', id, playerId: 'p', name: 'Ada', text, sentAtMs: 0 });
  // A live line can arrive before the room's history...
  applyLobby(rooms, line('1000-3', 'live'));
  assert.equal(rooms.get('global').joined, false);
  // ...and the history may repeat it.
  applyLobby(rooms, { type: 'room_joined', room: 'global', members: [{ playerId: 'p', name: 'Ada' }], history: [line('1000-2', 'old'), line('1000-3', 'live')] });
  applyLobby(rooms, line('1000-10', 'newest'));
  const r = rooms.get('global');
  assert.deepEqual(r.lines.map((l) => l.text), ['old', 'live', 'newest']);
  assert.equal(r.joined, true);
  assert.ok(compareIds('999-9', '1000-1') < 0 && compareIds('1000-10', '1000-9') > 0, 'numeric, not string, order');
  applyLobby(rooms, { type: 'presence', room: 'global', playerId: 'q', name: 'Bo', joined: true, count: 2 });
  assert.deepEqual([...r.members.values()], ['Ada', 'Bo']);
  applyLobby(rooms, { type: 'room_left', room: 'global' });
  assert.equal(rooms.has('global'), false);
});

test('leaderboard reset times read in days, hours and minutes', async () => {
  const { resetsIn } = await import('../src/leaderboard.js');
  assert.equal(resetsIn(null), '');
  assert.equal(resetsIn(90 * 60_000, 0), 'resets in 1 h 30 min');
  assert.equal(resetsIn(3 * 86_400_000 + 3_600_000, 0), 'resets in 3 d 1 h');
  assert.equal(resetsIn(5 * 60_000, 0), 'resets in 5 min');
});

test('a leaderboard answer for a board no longer asked for never replaces the newer one', async () => {
  const { LeaderboardPanel } = await import('../src/leaderboard.js');
  // Just enough of a page for the panel: its elements, and no timers or fetch.
  const element = () => ({
    classList: { contains: () => false, toggle() {} },
    addEventListener() {},
    replaceChildren() {},
    append() {},
  });
  const saved = { document: globalThis.document, fetch: globalThis.fetch, setInterval: globalThis.setInterval };
  globalThis.document = { getElementById: element, createElement: element };
  globalThis.fetch = () => new Promise(() => {});
  globalThis.setInterval = () => 0;
  try {
    const sent = [];
    const panel = new LeaderboardPanel({ send: (m) => sent.push(m), playerId: () => 'p1' });
    const answer = (requestId, board) => ({ type: 'leaderboard', requestId, board, period: 'all_time', total: 1, entries: [] });
    panel.refresh(); // kills: requests 1 and 2
    panel.board = 'rating';
    panel.refresh(); // rating: requests 3 and 4
    // The node answers concurrently: the rating answers come first.
    for (const [id, board] of [[3, 'rating'], [4, 'rating'], [1, 'kills'], [2, 'kills']]) {
      assert.equal(panel.apply(answer(id, board)), true, 'every leaderboard answer is the panel\'s to handle');
    }
    assert.equal(sent.length, 4);
    assert.equal(panel.snapshot().top.board, 'rating');
    assert.equal(panel.snapshot().around.board, 'rating');
  } finally {
    Object.assign(globalThis, saved);
  }
});

test('sessions and sockets go to the node given, not only the page\'s', () => {
  // After a move to a match host, a re-login goes to that host.
  assert.equal(sessionUrl('http://10.0.0.2:9000'), 'http://10.0.0.2:9000/api/session');
  assert.equal(sessionUrl('https://eu1.example.com/'), 'https://eu1.example.com/api/session');
  assert.equal(socketUrl('https://eu1.example.com', 'v1.a.b'), 'wss://eu1.example.com/ws?token=v1.a.b');
});

test('the documented hill snapshot decodes as the hill when the match plays it', () => {
  const joined = decodeServer(unhex(vectors.hill.joined));
  const replica = new Replica(joined.schema);
  const raw = decodeServer(documentedDump('hill_snapshot'));
  const { state, events } = replica.apply(raw.tick, raw.base, raw.data);
  const msg = { ...raw, ...snapshotView('hill', replica, state, events, raw.tick, {}) };
  assert.equal(msg.type, 'snapshot');
  assert.equal(msg.tick, 900);
  assert.equal(msg.ack, 12);
  assert.equal(msg.ticksLeft, 2700);
  assert.deepEqual(msg.scores, [150, 90]);
  assert.equal(msg.holder, 0);
  assert.deepEqual(
    msg.players.map(({ id, team, x, y }) => ({ id, team, x, y })),
    [
      { id: 1, team: 0, x: 800, y: 500 },
      { id: 2, team: 1, x: 900, y: 500 },
    ],
  );
  // Read as a game this client cannot draw, it is refused, not misread.
  assert.throws(() => snapshotView('chess', replica, state, events, raw.tick, {}));
});

test('hill inputs encode as documented', () => {
  assert.deepEqual(input(7, 899, 0, -1, 2.5, true, 'hill'), ['input', 7, 899, [0, -1, true]]);
});

test('a game this client cannot draw is told apart, not misread as the arena', () => {
  const joined = decodeServer(encode(['joined', '00000000000000ab', 3, 0, 'chess', [1, 2], [[]]]));
  assert.equal(joined.type, 'joined');
  assert.equal(joined.game, 'chess');
  assert.equal(joined.map, null);
});
