// The net stats overlay's figures: `npm --prefix assets/web test`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetStats, overlayText } from '../src/netstats.js';

test('steady snapshots show no loss and no jitter; gaps and late ones do', () => {
  const net = new NetStats();
  for (let t = 1; t <= 30; t++) net.snapshot(t, t * (1000 / 30));
  assert.deepEqual(
    [net.summary(30).lostPct, Math.round(net.summary(30).arrivalJitterMs * 1000)],
    [0, 0],
  );
  const lossy = new NetStats();
  // Ticks 1..40 with every fourth missing, and every other one 10 ms late.
  for (let t = 1; t <= 40; t++) if (t % 4 !== 0) lossy.snapshot(t, t * (1000 / 30) + (t % 2) * 10);
  const s = lossy.summary(30);
  // 9 of ticks 1..39 missing.
  assert.ok(Math.abs(s.lostPct - (100 * 9) / 39) < 1e-9, `${s.lostPct}`);
  assert.ok(s.arrivalJitterMs > 4 && s.arrivalJitterMs < 6, `${s.arrivalJitterMs}`);
});

test('a new match starts the count again', () => {
  const net = new NetStats();
  net.snapshot(500, 0);
  net.snapshot(510, 33);
  net.snapshot(1, 66);
  net.snapshot(2, 99);
  assert.equal(net.summary(30).lostPct, 0);
});

test('the overlay says round trip, loss and corrections', () => {
  const net = new NetStats();
  net.rtt(40);
  net.rtt(60);
  const text = overlayText(net, { perSecond: 0.5, largest: 10 }, 30, 66.7);
  assert.match(text, /others drawn 66\.7 ms behind/);
  assert.match(text, /round trip 50\.0 ms \(jitter 10\.0 ms\)/);
  assert.match(text, /corrections 0\.5\/s, largest 10\.0 units/);
  assert.match(overlayText(new NetStats(), null, 30), /prediction off/);
});
