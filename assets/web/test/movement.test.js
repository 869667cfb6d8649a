// The browser's movement rules against the node's: `npm --prefix
// assets/web test`. Rust writes the vectors from the arena's own simulation
// (tests/it/movement_vectors.rs); replaying every scenario's 1,000 ticks of
// input here must put the player where the node did, tick by tick.

import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { moveDir, movementRules, step } from '../src/movement.js';
import { parseSetup } from '../src/protocol.js';

const vectors = JSON.parse(readFileSync(new URL('./vectors/movement.json', import.meta.url), 'utf8'));

/** The largest distance tolerated between the two, in arena units. */
const TOLERANCE = 1e-3;

for (const scenario of vectors.scenarios) {
  test(`movement seed ${scenario.seed}: 1,000 ticks land where the node put the player`, () => {
    // The setup as the node sends it in `joined`, read by the client's parser.
    const rules = movementRules(parseSetup('arena', scenario.setup));
    let state = [...scenario.start, 0, 0];
    let worst = 0;
    let exact = 0;
    scenario.inputs.forEach(([x, y], i) => {
      state = step(state, moveDir(x, y), rules, scenario.tick_rate);
      const want = scenario.states[i];
      const off = Math.max(...state.map((v, k) => Math.abs(v - Math.fround(want[k]))));
      worst = Math.max(worst, off);
      if (off === 0) exact++;
      assert.ok(off <= TOLERANCE, `tick ${i + 1}: [${state}] where the node has [${want}]`);
    });
    assert.equal(scenario.states.length, 1000);
    // Single precision throughout, like Rust: not close, the same.
    assert.equal(exact, scenario.states.length, `${exact} exact of ${scenario.states.length}, worst ${worst}`);
  });
}
