#!/usr/bin/env node
// End-to-end test of the Skirmish browser client in Debian's Chromium,
// driven by playwright-core (which never downloads a browser of its own).
//
//   node tests/browser/e2e.mjs --url http://127.0.0.1:8080/ --artifacts DIR
//
// With --quic --transport webtransport, the page must play over WebTransport
// (the node offering it); with --wt-port-closed, the offer points at a
// closed port and the page must fall back to the WebSocket.
//
// Logs in, waits to be playing, holds W for one second and checks the player
// moved up, points the mouse down and to the right and checks the node
// reports that aim, holds the mouse button and checks shots fly from the
// player along it, then saves a screenshot. Any error the page throws or logs
// to the console fails the run. Prints one JSON line with the measurements;
// exits 0 on success and 1 with a reason on failure.
//
// The node must play a map where every spawn has room above it
// (tests/fixtures/e2e-map.toml, which tests/it/browser.rs starts it with);
// on a spawn under a wall the test fails saying so rather than guessing.

import { chromium } from 'playwright-core';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createSocket } from 'node:dgram';
import { CHROMIUM_ARGS } from './harness.mjs';

const CHROMIUM = '/usr/bin/chromium';
const GLOBAL_TIMEOUT_MS = 60_000;
const PLAYING_TIMEOUT_MS = 15_000;
const HOLD_MS = 1000;
const SETTLE_MS = 300;
// Max speed is 300 u/s reached in 0.2 s, so one second covers ~270 units
// in open space; 100 leaves room for slow ticks without passing a player
// who did not move.
const MIN_DISTANCE = 100;
// Room needed above the spawn to expect MIN_DISTANCE, with margin.
const ROOM_NEEDED = 180;
// Where the mouse points: down and to the right of the player (screen and
// arena y both grow downwards), this far from it in CSS pixels.
const AIM = Math.PI / 4;
const AIM_PX = 150;
// The node's aim (quantised to 1/10,000 rad) may differ from AIM by the
// player's drift while it settles; a wrong axis or sign is off by far more.
const AIM_TOLERANCE = 0.1;
const FIRE_MS = 700;

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    artifacts: { type: 'string', default: 'test-artifacts' },
    name: { type: 'string', default: 'E2E Tester' },
    // The screenshot's file name in the artifacts directory.
    shot: { type: 'string', default: 'e2e-playing.png' },
    // Accept the node's certificate without checking it (a test
    // certificate authority Chromium does not know).
    'ignore-https-errors': { type: 'boolean', default: false },
    // Let Chromium use QUIC (the harness turns it off), as WebTransport
    // needs.
    quic: { type: 'boolean', default: false },
    // The transport the page must end up on: webtransport or websocket.
    transport: { type: 'string', default: 'websocket' },
    // Make the node's WebTransport offer point at a closed UDP port, so
    // the page must fall back to the WebSocket.
    'wt-port-closed': { type: 'boolean', default: false },
    // Make the node's WebTransport offer point at this UDP port instead
    // (a lossy proxy in front of the node's).
    'wt-port': { type: 'string' },
  },
});
if (!args.url) {
  console.error('usage: e2e.mjs --url http://127.0.0.1:PORT/ [--artifacts DIR]');
  process.exit(2);
}

class Failure extends Error {}

/** A UDP port on 127.0.0.1 that nothing listens on (bound, then let go). */
async function closedUdpPort() {
  const socket = createSocket('udp4');
  await new Promise((done) => socket.bind(0, '127.0.0.1', done));
  const { port } = socket.address();
  await new Promise((done) => socket.close(done));
  return port;
}

const pageErrors = [];
const consoleErrors = [];
let context = null;
let page = null;
let userDataDir = null;
let artifactsDir = null;

async function cleanup() {
  const ctx = context;
  context = null;
  if (ctx) await ctx.close().catch(() => {});
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
}

function fail(message) {
  throw new Failure(message);
}

/**
 * Free distance from `me` up to the first wall, obstacle or other player,
 * for a circle of radius r. Other players count as boxes around their
 * circles.
 */
function roomAbove(me, map, r, others) {
  let room = me.y - r;
  const boxes = [...map.obstacles, ...others.map((p) => ({ x: p.x - r, y: p.y - r, w: 2 * r, h: 2 * r }))];
  for (const o of boxes) {
    if (me.x + r <= o.x || me.x - r >= o.x + o.w) continue;
    if (o.y + o.h <= me.y) room = Math.min(room, me.y - r - (o.y + o.h));
  }
  return room;
}

async function run() {
  const artifacts = resolve(args.artifacts);
  artifactsDir = artifacts;
  await mkdir(artifacts, { recursive: true });
  userDataDir = await mkdtemp(join(tmpdir(), 'skirmish-e2e-'));

  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: args.quic ? CHROMIUM_ARGS.filter((a) => a !== '--disable-quic') : CHROMIUM_ARGS,
    viewport: { width: 1280, height: 720 },
    ignoreHTTPSErrors: args['ignore-https-errors'],
  });
  page = context.pages()[0] ?? (await context.newPage());
  if (args['wt-port-closed'] || args['wt-port']) {
    // The offer as the node makes it, but on another UDP port: one nothing
    // listens on, or the one given.
    const port = args['wt-port'] ?? String(await closedUdpPort());
    await page.route('**/api/webtransport', async (route) => {
      const response = await route.fetch();
      const offer = await response.json();
      const url = new URL(offer.url);
      url.port = port;
      await route.fulfill({ response, json: { ...offer, url: url.href } });
    });
  }
  page.on('pageerror', (err) => pageErrors.push(String(err?.stack || err)));
  page.on('console', (msg) => {
    // Chromium's own report of the WebTransport attempt that the fallback
    // test makes fail on purpose.
    const expected = args['wt-port-closed'] && /^Failed to establish a connection to https:\/\/[^ ]*\/wt\?/.test(msg.text());
    if (msg.type() === 'error' && !expected) consoleErrors.push(msg.text());
  });

  const response = await page.goto(args.url, { waitUntil: 'load', timeout: 15_000 });
  if (!response?.ok()) fail(`loading ${args.url} answered HTTP ${response?.status()}`);
  await page.waitForFunction(() => window.__skirmish?.phase === 'login', null, { timeout: 10_000 }).catch(() => {
    fail('the client did not start (no window.__skirmish in the login phase); is assets/web/dist built?');
  });

  await page.locator('#name').fill(args.name);
  await page.locator('#play').click();
  await page
    .waitForFunction(() => window.__skirmish.phase === 'playing' && window.__skirmish.me !== null, null, {
      timeout: PLAYING_TIMEOUT_MS,
      polling: 50,
    })
    .catch(async () => {
      const phase = await page.evaluate(() => window.__skirmish.phase).catch(() => '?');
      const error = await page.locator('#login-error').textContent().catch(() => '');
      fail(`not playing within ${PLAYING_TIMEOUT_MS / 1000} s (phase ${phase}${error ? `, "${error}"` : ''})`);
    });

  const info = await page.evaluate(() => ({
    me: window.__skirmish.me,
    others: window.__skirmish.players.filter((p) => p.id !== window.__skirmish.you && p.health > 0),
    map: window.__skirmish.map,
    rules: window.__skirmish.rules,
    tickRate: window.__skirmish.tickRate,
  }));
  const start = info.me;

  // Aim somewhere on the canvas so the player faces the cursor.
  const canvas = await page.locator('#game').boundingBox();
  if (!canvas) fail('no #game canvas on the page');
  await page.mouse.move(canvas.x + canvas.width * 0.75, canvas.y + canvas.height * 0.3);

  // The test map leaves room above every spawn; anything else is a broken
  // setup, not a client bug, and says so.
  const r = info.rules.playerRadius;
  const room = roomAbove(start, info.map, r, info.others);
  if (room < ROOM_NEEDED) {
    fail(
      `the spawn at (${start.x}, ${start.y}) on "${info.map.name}" has only ${room.toFixed(1)} units above it ` +
        `(need ${ROOM_NEEDED}): start the node with tests/fixtures/e2e-map.toml`,
    );
  }
  const key = 'KeyW';
  await page.keyboard.down(key);
  await page.waitForTimeout(HOLD_MS);
  await page.keyboard.up(key);
  await page.waitForTimeout(SETTLE_MS);
  const walked = await page.evaluate(() => window.__skirmish.me);
  if (!walked) fail('the own player vanished after walking');

  // Aim: the mouse down and to the right of the player; the node's
  // snapshots must come to report that aim.
  const at = await page.evaluate(({ x, y }) => window.__skirmish.toScreen(x, y), walked);
  await page.mouse.move(at.x + AIM_PX * Math.cos(AIM), at.y + AIM_PX * Math.sin(AIM));
  const aimed = await page
    .waitForFunction(
      ({ want, tolerance }) => {
        const me = window.__skirmish.me;
        if (!me) return false;
        const off = Math.atan2(Math.sin(me.aim - want), Math.cos(me.aim - want));
        return Math.abs(off) < tolerance ? me.aim : false;
      },
      { want: AIM, tolerance: AIM_TOLERANCE },
      { timeout: 3000, polling: 50 },
    )
    .then((h) => h.jsonValue())
    .catch(async () => {
      const me = await page.evaluate(() => window.__skirmish.me);
      fail(`the node never reported the aim ${AIM.toFixed(3)} rad the mouse points at (it reports ${me?.aim})`);
    });

  // Fire: hold the button; shots must fly from the player along the aim
  // (this is the only player in its match, so every shot is its own).
  await page.mouse.down();
  const shots = await page.evaluate(
    async ({ ms, aim, tolerance }) => {
      const along = [];
      const until = performance.now() + ms;
      while (performance.now() < until) {
        const me = window.__skirmish.me;
        for (const p of window.__skirmish.projectiles) {
          if (!me) continue;
          const dx = p.x - me.x;
          const dy = p.y - me.y;
          const off = Math.atan2(Math.sin(Math.atan2(dy, dx) - aim), Math.cos(Math.atan2(dy, dx) - aim));
          if (Math.hypot(dx, dy) > 1 && Math.abs(off) < tolerance && !along.includes(p.id)) along.push(p.id);
        }
        await new Promise((r) => setTimeout(r, 30));
      }
      return along.length;
    },
    { ms: FIRE_MS, aim: aimed, tolerance: 3 * AIM_TOLERANCE },
  );
  await page.mouse.up();

  const after = await page.evaluate(() => ({
    transport: window.__skirmish.transport,
    inputsRepeating: window.__skirmish.inputsRepeating,
    hud: document.getElementById('hud-transport')?.textContent,
    me: window.__skirmish.me,
    tick: window.__skirmish.tick,
    ticksLeft: window.__skirmish.ticksLeft,
    rtt: window.__skirmish.rtt,
    players: window.__skirmish.players.length,
    phase: window.__skirmish.phase,
  }));
  if (!after.me) fail(`the own player vanished (phase ${after.phase})`);
  const end = walked;
  const dy = end.y - start.y;
  const distance = Math.hypot(end.x - start.x, dy);

  // The net stats overlay: N shows it with the round trip, snapshot loss
  // and the prediction's corrections (the arena's own movement is
  // predicted), N again hides it.
  await page.keyboard.press('KeyN');
  const overlay = await page
    .waitForFunction(
      () => {
        const el = document.getElementById('netstats');
        return !el.hidden && /round trip [0-9.]+ ms/.test(el.textContent) && /corrections [0-9.]+\/s/.test(el.textContent)
          ? el.textContent
          : false;
      },
      null,
      { timeout: 3000, polling: 50 },
    )
    .then((h) => h.jsonValue())
    .catch(() => fail('N did not show the net stats overlay with its figures'));
  await page.screenshot({ path: join(artifacts, args.shot) });
  await page.keyboard.press('KeyN');
  if (!(await page.evaluate(() => document.getElementById('netstats').hidden))) fail('N did not hide the overlay');
  const prediction = await page.evaluate(() => window.__skirmish.prediction);
  if (!prediction) fail('the arena is not predicted');

  const report = {
    ok: true,
    url: page.url(),
    key,
    start: { x: start.x, y: start.y },
    end: { x: end.x, y: end.y },
    dy,
    distance: Math.round(distance * 10) / 10,
    tick: after.tick,
    tickRate: info.tickRate,
    ticksLeft: after.ticksLeft,
    rtt: after.rtt,
    transport: after.transport,
    inputsRepeating: after.inputsRepeating,
    hud: after.hud,
    players: after.players,
    aim: aimed,
    shots,
    consoleErrors,
  };

  if (pageErrors.length) fail(`the page threw: ${pageErrors.join('\n')}`);
  if (consoleErrors.length) fail(`the page logged errors: ${consoleErrors.join('\n')}`);
  if (after.transport !== args.transport) fail(`the page is on ${after.transport}, not ${args.transport}: ${JSON.stringify(report)}`);
  // Input datagrams repeat the unacknowledged inputs before them; on a
  // WebSocket, which loses nothing, inputs do not.
  if ((after.inputsRepeating > 0) !== (args.transport === 'webtransport')) {
    fail(`over ${args.transport}, ${after.inputsRepeating} inputs repeated the ones before them`);
  }
  const shown = { webtransport: 'WT', websocket: 'WS' }[args.transport];
  if (after.hud !== shown) fail(`the HUD says ${after.hud}, not ${shown}`);
  if (shots < 1) fail(`holding the mouse button for ${FIRE_MS} ms fired no shot along the aim: ${JSON.stringify(report)}`);
  if (distance < MIN_DISTANCE) {
    fail(`holding ${key} for ${HOLD_MS} ms moved the player only ${distance.toFixed(1)} units (need ${MIN_DISTANCE}): ${JSON.stringify(report)}`);
  }
  // Moving the wrong way would mean the client mixed up screen and arena axes.
  if (dy > -MIN_DISTANCE / 2) {
    fail(`holding ${key} moved the player the wrong way (dy ${dy.toFixed(1)}): ${JSON.stringify(report)}`);
  }
  report.overlay = overlay;
  report.prediction = prediction;
  console.log(JSON.stringify(report));
}

const watchdog = setTimeout(async () => {
  console.error(`e2e: FAILED: no result within ${GLOBAL_TIMEOUT_MS / 1000} s`);
  await cleanup();
  process.exit(1);
}, GLOBAL_TIMEOUT_MS);

let code = 0;
try {
  await run();
} catch (err) {
  code = 1;
  const message = err instanceof Failure ? err.message : String(err?.stack || err);
  console.error(`e2e: FAILED: ${message}`);
  if (pageErrors.length && !(err instanceof Failure && message.includes('the page threw'))) {
    console.error(`page errors:\n${pageErrors.join('\n')}`);
  }
  if (consoleErrors.length) console.error(`console errors:\n${consoleErrors.join('\n')}`);
  if (page && artifactsDir) {
    // What the page looked like when it failed, for whoever debugs it.
    await page
      .screenshot({ path: join(artifactsDir, 'e2e-failure.png'), timeout: 5000 })
      .then(() => console.error(`screenshot: ${join(artifactsDir, 'e2e-failure.png')}`))
      .catch(() => {});
  }
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
process.exit(code);
