#!/usr/bin/env node
// King of the hill in Debian's Chromium: a player picks the hill's mode on
// the login screen and presses "Find match"; the node fills the other team
// with a server bot. The page draws the hill's view: two teams, the hill,
// the team scores in the HUD. The player walks onto the hill with the
// keyboard, and when the (short) match ends the results screen shows the
// hill's columns and the team rating.
//
//   node tests/browser/hill.mjs --url http://NODE/ --artifacts DIR
//
// The node must offer a mode `hill` of one against one that starts with a
// bot at once, and matches of a few seconds. Prints one JSON line; exits 0
// on success and 1 with a reason on failure.

import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fail, main, open, pageErrors, until } from './harness.mjs';

const { values: args } = parseArgs({
  options: { url: { type: 'string' }, artifacts: { type: 'string', default: 'test-artifacts' } },
});
if (!args.url) {
  console.error('usage: hill.mjs --url URL [--artifacts DIR]');
  process.exit(2);
}

/** Distance from the own body to the hill's centre. */
const toHill = () => {
  const s = window.__skirmish;
  const me = s.players.find((p) => p.id === s.you);
  const hill = s.map.hill;
  return me ? Math.hypot(me.x - hill.x, me.y - hill.y) : null;
};

async function run() {
  const artifacts = resolve(args.artifacts);
  await mkdir(artifacts, { recursive: true });
  const page = await open(args.url, 'Hilda');
  await page.locator('select.mode').first().selectOption('hill');
  await page.locator('#queue').click();
  await until(page, 'never seated in a hill match', () => window.__skirmish.phase === 'playing' && window.__skirmish.game === 'hill');
  await until(page, 'no snapshot with two teams', () => {
    const teams = new Set(window.__skirmish.players.map((p) => p.team));
    return teams.has(0) && teams.has(1);
  });
  const view = await page.evaluate(() => ({ map: window.__skirmish.map, you: window.__skirmish.you, players: window.__skirmish.players }));
  if (!view.map.hill || view.map.obstacles.length !== 0) fail(`not the hill's field: ${JSON.stringify(view.map)}`);

  // Walk towards the hill with the keyboard for a second and a half.
  const before = await page.evaluate(toHill);
  const me = view.players.find((p) => p.id === view.you);
  const keys = [me.x < view.map.hill.x ? 'd' : 'a', me.y < view.map.hill.y ? 's' : 'w'];
  for (const k of keys) await page.keyboard.down(k);
  await page.waitForTimeout(1500);
  for (const k of keys) await page.keyboard.up(k);
  const after = await page.evaluate(toHill);
  if (!(after < before - 100)) fail(`walking towards the hill went from ${before} to ${after} units away`);
  const hud = await page.locator('#hud-score').textContent();
  if (!/^\d+–\d+$/.test(hud)) fail(`the HUD shows ${JSON.stringify(hud)}, not the two team scores`);
  await page.screenshot({ path: join(artifacts, 'hill-playing.png') });

  // The match ends; the results show the hill's columns and the rating.
  await until(page, 'never saw the results', () => window.__skirmish.phase === 'results' && window.__skirmish.results !== null);
  await until(page, 'was never told a rating', () => window.__skirmish.rating !== null);
  const results = await page.evaluate(() => ({
    head: [...document.querySelectorAll('#results-head th')].map((th) => th.textContent),
    lines: window.__skirmish.results,
    reason: window.__skirmish.endReason,
  }));
  if (results.head.join(',') !== '#,Player,Team,Hill s,Shoves') fail(`the results table reads ${results.head}`);
  const line = results.lines.find((r) => r.name === 'Hilda');
  if (!line || line.team === null || line.stats.hill_s === undefined) fail(`Hilda's line: ${JSON.stringify(line)}`);
  await page.screenshot({ path: join(artifacts, 'hill-results.png') });
  if (pageErrors.length) fail(`the page threw:\n${pageErrors.join('\n')}`);
  console.log(JSON.stringify({ ok: true, before, after, hud, reason: results.reason, line }));
}

await main('hill', run, 90_000);
