#!/usr/bin/env node
// Prediction in Debian's Chromium with latency added on the wire: the page
// talks to the node through a delay proxy (tests/it/browser.rs starts
// skirmish-lag's, 75 ms each way plus jitter: a round trip of 150 ms and
// more). Pressing W must move the own player on the next animation frame,
// long before the node's answer could arrive; once the keys are let go and
// a round trip has passed, the node's position and the drawn one agree.
// Then the player walks a square for a few seconds and the page's
// prediction figures are read: corrections a second and the largest, of
// which there must be almost none.
//
//   node tests/browser/latency.mjs --url http://PROXY/ --rtt-ms 150 --artifacts DIR
//
// The node must play tests/fixtures/e2e-map.toml (room above every spawn).
// Prints one JSON line with the measurements; exits 0 on success and 1 with
// a reason on failure.

import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fail, main, open, pageErrors, until } from './harness.mjs';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    'rtt-ms': { type: 'string', default: '150' },
    artifacts: { type: 'string', default: 'test-artifacts' },
  },
});
if (!args.url) {
  console.error('usage: latency.mjs --url URL [--rtt-ms MS] [--artifacts DIR]');
  process.exit(2);
}
const RTT_MS = Number(args['rtt-ms']);
// Predicted and authoritative positions must agree this closely at rest.
const AGREE_UNITS = 0.5;
// Corrections allowed in the square walk.
const MAX_WALK_CORRECTIONS = 3;

/** Records, in the page, each animation frame's drawn and node positions. */
function installProbe() {
  const probe = { keyAt: null, frames: [] };
  window.__probe = probe;
  window.addEventListener('keydown', (e) => {
    if (e.code === 'KeyW' && probe.keyAt === null) probe.keyAt = performance.now();
  });
  const frame = () => {
    const s = window.__skirmish;
    probe.frames.push({ at: performance.now(), drawn: s.drawnMe, node: s.me });
    if (probe.frames.length < 2000) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

async function run() {
  const artifacts = resolve(args.artifacts);
  await mkdir(artifacts, { recursive: true });
  const page = await open(args.url, 'Lagged');
  await page.locator('#play').click();
  await until(page, 'never playing', () => window.__skirmish.phase === 'playing' && window.__skirmish.drawnMe !== null);
  // Standing still at the spawn, drawn where the node has it.
  await page.waitForTimeout(RTT_MS * 3);
  await page.evaluate(installProbe);
  await page.waitForTimeout(200);

  await page.keyboard.down('KeyW');
  await page.waitForTimeout(500);
  await page.keyboard.up('KeyW');
  await page.waitForTimeout(RTT_MS * 2 + 500);
  const probe = await page.evaluate(() => window.__probe);
  if (probe.keyAt === null) fail('the page never saw W go down');
  const before = probe.frames.filter((f) => f.at < probe.keyAt).at(-1);
  const after = probe.frames.filter((f) => f.at >= probe.keyAt);
  if (!before?.drawn || !after.length) fail(`no frames around the key press: ${JSON.stringify(probe).slice(0, 400)}`);
  const movedFrame = after.findIndex((f) => f.drawn && f.drawn.y < before.drawn.y - 0.01);
  if (movedFrame < 0) fail('pressing W never moved the drawn player');
  const drawnAfterMs = after[movedFrame].at - probe.keyAt;
  if (movedFrame !== 0) {
    fail(`the drawn player moved on frame ${movedFrame + 1} after W (${drawnAfterMs.toFixed(1)} ms), not the next one`);
  }
  const nodeFrame = after.findIndex((f) => f.node && f.node.y < before.node.y - 0.01);
  if (nodeFrame < 0) fail("the node's position never moved");
  const nodeAfterMs = after[nodeFrame].at - probe.keyAt;
  if (nodeAfterMs < RTT_MS * 0.9) {
    fail(`the node's position moved ${nodeAfterMs.toFixed(1)} ms after W: the proxy is not adding ${RTT_MS} ms`);
  }
  const last = after.at(-1);
  const gap = Math.hypot(last.drawn.x - last.node.x, last.drawn.y - last.node.y);
  if (gap > AGREE_UNITS) {
    fail(`a round trip after stopping, drawn (${last.drawn.x}, ${last.drawn.y}) and node (${last.node.x}, ${last.node.y}) are ${gap.toFixed(2)} apart`);
  }
  const walked = before.drawn.y - last.node.y;

  // A square walk, a second a side, then the page's correction figures.
  const start = await page.evaluate(() => window.__skirmish.prediction);
  const walkStarted = Date.now();
  for (const key of ['KeyD', 'KeyS', 'KeyA', 'KeyW']) {
    await page.keyboard.down(key);
    await page.waitForTimeout(1000);
    await page.keyboard.up(key);
  }
  await page.waitForTimeout(RTT_MS * 2 + 300);
  const walkS = (Date.now() - walkStarted) / 1000;
  const end = await page.evaluate(() => {
    const s = window.__skirmish;
    return { prediction: s.prediction, me: s.me, drawn: s.drawnMe, rtt: s.rtt, renderDelayMs: s.renderDelayMs };
  });
  const endGap = Math.hypot(end.drawn.x - end.me.x, end.drawn.y - end.me.y);
  if (endGap > AGREE_UNITS) fail(`after the walk, drawn and node positions are ${endGap.toFixed(2)} apart`);
  // Inputs one a tick, a key's change in the next tick's place: the node
  // steps what the page predicted, so a walk needs no correction. One now
  // and then is a timer the machine ran late; a change that restarted the
  // input timer (the page before) made 6 to 10 in this walk.
  const walkCorrections = end.prediction.corrections - start.corrections;
  if (walkCorrections > MAX_WALK_CORRECTIONS) {
    fail(`${walkCorrections} corrections in a ${walkS.toFixed(1)} s walk (largest ${end.prediction.largest.toFixed(1)} units)`);
  }
  await page.screenshot({ path: join(artifacts, 'latency.png') });
  if (pageErrors.length) fail(`a page threw:\n${pageErrors.join('\n')}`);
  console.log(
    JSON.stringify({
      ok: true,
      rtt_ms: end.rtt,
      render_delay_ms: end.renderDelayMs,
      drawn_moved_after_ms: Number(drawnAfterMs.toFixed(1)),
      node_moved_after_ms: Number(nodeAfterMs.toFixed(1)),
      walked_units: Number(walked.toFixed(1)),
      walk_s: Number(walkS.toFixed(1)),
      corrections: walkCorrections,
      corrections_per_s: Number((walkCorrections / walkS).toFixed(2)),
      largest_correction_units: Number(end.prediction.largest.toFixed(2)),
    }),
  );
}

await main('latency', run, 60_000);
