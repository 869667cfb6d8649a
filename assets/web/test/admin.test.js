// The admin dashboard's data: `npm --prefix assets/web test`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHARTS, History, figure, sum } from '../src/admin_data.js';

const view = (at, nodes) => ({ self: 'a', at_ms: at * 1000, nodes });
const node = (id, players, stats) => ({ id, players, matches: 0, age_ms: 0, stats });
const players = CHARTS.find((c) => c.id === 'players');
const queued = CHARTS.find((c) => c.id === 'queued');

test('series line nodes up by time, with gaps where a node was not live', () => {
  const h = new History();
  h.add(view(1, [node('a', 3), node('b', 5)]));
  h.add(view(3, [node('b', 6)]));
  h.add(view(5, [node('a', 4), node('b', 7), node('c', 1)]));
  assert.deepEqual(h.nodeIds(), ['a', 'b', 'c']);
  assert.deepEqual(h.series(players, h.nodeIds()), [
    [1, 3, 5],
    [3, null, 4],
    [5, 6, 7],
    [null, null, 1],
  ]);
});

test('stats a node did not send chart as gaps, and queues add up over modes', () => {
  const h = new History();
  h.add(view(1, [node('a', 1, { queued: { ffa: 2, duel: 3 } }), node('b', 1)]));
  assert.deepEqual(h.series(queued, ['a', 'b']), [[1], [5], [null]]);
  assert.equal(sum(undefined), null);
});

test('only the last samples are kept', () => {
  const h = new History(2);
  for (let t = 0; t < 5; t++) h.add(view(t, [node('a', t)]));
  assert.deepEqual(h.series(players, ['a']), [
    [3, 4],
    [3, 4],
  ]);
});

test('figures round and say when absent', () => {
  assert.equal(figure(null), '–');
  assert.equal(figure(3), '3');
  assert.equal(figure(2.345, 2), '2.35');
});
