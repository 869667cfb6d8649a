#!/usr/bin/env node
// Failover in Debian's Chromium: a player whose node dies mid-match carries
// on at another node of the cluster. The page was loaded from the node that
// dies; it learnt the cluster's live nodes when it was welcomed, and when
// its node refuses it twice it asks them for another, logs in there with
// its token and lands in that node's lobby, told that its match was lost.
// Quick play then seats it in a match on the new node.
//
//   node tests/browser/failover.mjs --victim URL --victim-pid PID --survivor URL --artifacts DIR
//
// The victim is killed with SIGKILL by this script. Prints one JSON line;
// exits 0 on success and 1 with a reason on failure.

import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fail, main, open, pageErrors, until } from './harness.mjs';

const { values: args } = parseArgs({
  options: {
    victim: { type: 'string' },
    'victim-pid': { type: 'string' },
    survivor: { type: 'string' },
    artifacts: { type: 'string', default: 'test-artifacts' },
  },
});
if (!args.victim || !args['victim-pid'] || !args.survivor) {
  console.error('usage: failover.mjs --victim URL --victim-pid PID --survivor URL [--artifacts DIR]');
  process.exit(2);
}
const base = (url) => url.replace(/\/+$/, '');

async function run() {
  const artifacts = resolve(args.artifacts);
  await mkdir(artifacts, { recursive: true });
  const page = await open(args.victim, 'Mover');
  await page.locator('#play').click();
  await until(page, 'never seated on the first node', () => window.__skirmish.phase === 'playing');
  const first = await page.evaluate(() => ({ node: window.__skirmish.node, match: window.__skirmish.matchId }));
  if (base(first.node) !== base(args.victim)) fail(`playing on ${first.node}, not the victim`);

  process.kill(Number(args['victim-pid']), 'SIGKILL');
  const killed = Date.now();
  await until(
    page,
    'never landed in the lobby of the other node',
    (survivor) => window.__skirmish.phase === 'lobby' && window.__skirmish.node?.replace(/\/+$/, '') === survivor,
    base(args.survivor),
  );
  const landedMs = Date.now() - killed;
  const told = await page.locator('.toast').allTextContents();
  if (!told.some((t) => t.includes('went away') && t.includes('lost'))) {
    fail(`no message about the lost node and match: ${JSON.stringify(told)}`);
  }
  await page.screenshot({ path: join(artifacts, 'failover-lobby.png') });

  await page.locator('#status-play').click();
  await until(page, 'never seated on the other node', () => window.__skirmish.phase === 'playing');
  const second = await page.evaluate(() => window.__skirmish.matchId);
  if (second === first.match) fail('the same match again: it died with its node');
  if (pageErrors.length) fail(`the page threw:\n${pageErrors.join('\n')}`);
  console.log(JSON.stringify({ ok: true, landed_in_lobby_ms: landedMs, told }));
}

await main('failover', run, 60_000);
