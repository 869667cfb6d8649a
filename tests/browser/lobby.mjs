#!/usr/bin/env node
// Two players in Debian's Chromium, each on its own node of one cluster:
// they meet in the shared lobby (chat, presence), both press "Find match"
// and are matched, the one whose node does not host the match following the
// redirect to the host. When the (short) match ends, the results screen
// shows each player's rating and its change, they chat and type, and the
// leaderboard panel shows the player with their kills and their rating.
//
//   node tests/browser/lobby.mjs --url-a http://A/ --url-b http://B/ --artifacts DIR
//
// The nodes must run a matchmaking mode `ffa` that starts with two players,
// and matches of a few seconds (`--match-seconds`).
// Prints one JSON line; exits 0 on success and 1 with a reason on failure.

import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fail, main, open, pageErrors, until } from './harness.mjs';

const GLOBAL_TIMEOUT_MS = 90_000;
const WAIT_MS = 15_000;

const { values: args } = parseArgs({
  options: {
    'url-a': { type: 'string' },
    'url-b': { type: 'string' },
    artifacts: { type: 'string', default: 'test-artifacts' },
  },
});
if (!args['url-a'] || !args['url-b']) {
  console.error('usage: lobby.mjs --url-a URL --url-b URL [--artifacts DIR]');
  process.exit(2);
}

async function run() {
  const artifacts = resolve(args.artifacts);
  await mkdir(artifacts, { recursive: true });
  const a = await open(args['url-a'], 'Alice');
  const b = await open(args['url-b'], 'Bob');

  // Both log in with "Find match" (a mode of two starts as soon as both
  // queue); before that, meet in the lobby: the chat works from the first
  // welcome, queued or not.
  await a.locator('#queue').click();
  await until(a, 'Alice never joined #global', () => window.__skirmish.rooms.global?.joined === true);
  // Alice posts before Bob queues, so the match cannot have started yet.
  await a.locator('#chat-input').fill('hello from node A');
  await a.locator('#chat-input').press('Enter');

  // Bob logs in on the other node: he sees Alice's line in the history,
  // and both see two players in #global.
  await b.locator('#queue').click();
  await until(b, 'Bob never saw the line from node A', () =>
    (window.__skirmish.rooms.global?.lines ?? []).some((l) => l.text === 'hello from node A' && l.name === 'Alice'),
  );
  await until(a, 'Alice never saw Bob join #global', () => window.__skirmish.rooms.global?.count >= 2);

  // The two were matched: one plays on its own node, the other followed the
  // redirect to the host; both are in the same match.
  await until(a, 'Alice was not matched', () => window.__skirmish.phase === 'playing');
  await until(b, 'Bob was not matched', () => window.__skirmish.phase === 'playing');
  const [ma, mb] = await Promise.all([a, b].map((p) => p.evaluate(() => ({ match: window.__skirmish.matchId, server: window.__skirmish.server }))));
  if (ma.match !== mb.match) fail(`different matches: ${ma.match} and ${mb.match}`);
  if (ma.server !== mb.server) fail(`not on the same host: ${ma.server} and ${mb.server}`);

  // The player who followed the match to the other node can log in there
  // from their page (the client does when its token needs renewing): the
  // host answers cross-origin requests.
  let moved = 0;
  for (const [page, url] of [[a, args['url-a']], [b, args['url-b']]]) {
    const server = await page.evaluate(() => window.__skirmish.server);
    if (new URL(server).origin === new URL(url).origin) continue;
    moved += 1;
    const answer = await page.evaluate(async (base) => {
      try {
        const r = await fetch(new URL('/api/session', base).href, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'Relogin' }),
        });
        return { status: r.status, token: Boolean((await r.json()).token) };
      } catch (err) {
        return { error: String(err) };
      }
    }, server);
    if (answer.status !== 200 || !answer.token) fail(`a cross-origin login at the host failed: ${JSON.stringify(answer)}`);
  }
  if (moved !== 1) fail(`${moved} players moved to the host; expected one`);

  // The match ends: each results screen shows the rating the node sent
  // and its change; a first match starts from 1000.
  const ratings = {};
  for (const [page, who] of [
    [a, 'Alice'],
    [b, 'Bob'],
  ]) {
    await until(page, `${who} never saw the results`, () => window.__skirmish.phase === 'results' && window.__skirmish.results !== null);
    await until(page, `${who} was never told a rating`, () => window.__skirmish.rating !== null);
    const shown = await page.evaluate(() => {
      const el = document.getElementById('results-rating');
      return { hidden: el.hidden, text: el.textContent, rating: window.__skirmish.rating, results: window.__skirmish.results };
    });
    const { rating, delta } = shown.rating;
    const want = `Rating ${rating} (${delta >= 0 ? '+' : ''}${delta})`;
    if (shown.hidden || shown.text !== want) {
      fail(`${who}'s results screen shows ${JSON.stringify(shown.text)} (hidden: ${shown.hidden}), not ${JSON.stringify(want)}`);
    }
    if (rating !== 1000 + delta) fail(`${who}: a first match starts from 1000, yet the rating is ${rating} after a change of ${delta}`);
    const line = shown.results.find((r) => r.name === who);
    if (!line) fail(`${who} is not in the results ${JSON.stringify(shown.results)}`);
    ratings[who] = { rating, delta, kills: line.kills };
  }
  await b.screenshot({ path: join(artifacts, 'lobby-results-b.png') });

  // Typing reaches the other player, and chat still works from the host.
  if (await b.locator('#lobby').evaluate((el) => el.classList.contains('collapsed'))) await b.locator('#lobby-toggle').click();
  await b.locator('#chat-input').pressSequentially('gg', { delay: 30 });
  await until(a, 'Alice never saw Bob typing', () => (window.__skirmish.rooms.global?.typing ?? []).includes('Bob'));
  await b.locator('#chat-input').press('Enter');
  await until(a, "Alice never saw Bob's line", () => (window.__skirmish.rooms.global?.lines ?? []).some((l) => l.text === 'gg'));

  // The leaderboard panel shows Bob with his kills from the match, in the
  // top ten and in the page around him, then with his rating.
  const bob = ratings.Bob;
  const onBoard = ({ board, score }) => {
    const lb = window.__skirmish.leaderboard;
    const mine = (page) => page?.board === board && page.entries.some((e) => e.name === 'Bob' && e.score === score);
    return mine(lb.top) && mine(lb.around);
  };
  await b.locator('#leaderboard-toggle').click();
  await until(b, `Bob is not on the kills board with his ${bob.kills} kills`, onBoard, { board: 'kills', score: bob.kills });
  await b.locator('#lb-board').selectOption('rating');
  await until(b, `Bob is not on the rating board with his rating ${bob.rating}`, onBoard, { board: 'rating', score: bob.rating });
  const row = await b.locator('#lb-top tr.me').first().textContent({ timeout: WAIT_MS });
  if (!row.includes('Bob') || !row.includes(String(bob.rating))) fail(`the panel's own row reads ${JSON.stringify(row)}`);

  await a.screenshot({ path: join(artifacts, 'lobby-a.png') });
  await b.screenshot({ path: join(artifacts, 'lobby-b.png') });
  if (pageErrors.length) fail(`a page threw:\n${pageErrors.join('\n')}`);
  const board = await b.evaluate(() => window.__skirmish.leaderboard.top);
  console.log(JSON.stringify({ ok: true, match: ma.match, host: ma.server, ratings, board: board.board, total: board.total }));
}

await main('lobby', run, GLOBAL_TIMEOUT_MS);
