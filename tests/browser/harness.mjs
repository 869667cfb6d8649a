// What the browser tests share: Debian's Chromium launched headless the way
// the project's standards say, a page opened at the login screen, waiting
// for a condition in the page, and running a test with a watchdog, cleanup
// and one exit code (0 passed, 1 failed with a reason).

import { chromium } from 'playwright-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How every browser test launches Chromium. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];
const WAIT_MS = 15_000;

/** A failure the test explains (printed without a stack). */
export class Failure extends Error {}
export const fail = (message) => {
  throw new Failure(message);
};

const contexts = [];
const dirs = [];
/** Uncaught errors thrown in any page, `name: stack`. */
export const pageErrors = [];
/** What the pages logged (the browser's network errors among it), printed when a test fails. */
const consoleLines = [];

/** Opens `url` in a fresh Chromium profile, at the login screen with `name` typed in. */
export async function open(url, name) {
  const page = await openPage(url, name);
  await page.waitForFunction(() => window.__skirmish?.phase === 'login', null, { timeout: 10_000 });
  await page.locator('#name').fill(name);
  return page;
}

/** Opens `url` in a fresh Chromium profile; `name` labels its console lines. */
export async function openPage(url, name) {
  const dir = await mkdtemp(join(tmpdir(), 'skirmish-browser-'));
  dirs.push(dir);
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 720 },
  });
  contexts.push(context);
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => consoleLines.push(`${name} ${new Date().toISOString().slice(11, 23)} ${m.type()}: ${m.text()}`));
  page.on('pageerror', (err) => pageErrors.push(`${name}: ${err?.stack || err}`));
  const response = await page.goto(url, { waitUntil: 'load', timeout: 15_000 });
  if (!response?.ok()) fail(`${name}: loading ${url} answered HTTP ${response?.status()}`);
  return page;
}

/** Waits for a condition in the page, failing with `what` when it does not come. */
export async function until(page, what, fn, arg) {
  await page.waitForFunction(fn, arg, { timeout: WAIT_MS, polling: 50 }).catch(async () => {
    const state = await page
      .evaluate(() =>
        window.__skirmish
          ? { phase: window.__skirmish.phase, game: window.__skirmish.game, rooms: window.__skirmish.rooms, leaderboard: window.__skirmish.leaderboard }
          : { admin: window.__admin },
      )
      .catch(() => ({}));
    fail(`${what} (page state ${JSON.stringify(state)})`);
  });
}

async function cleanup() {
  for (const c of contexts.splice(0)) await c.close().catch(() => {});
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true }).catch(() => {});
}

/** Runs `test` within `timeoutMs`, then exits: 0 if it passed, 1 if not. */
export async function main(label, test, timeoutMs) {
  const watchdog = setTimeout(async () => {
    console.error(`${label}: FAILED: no result within ${timeoutMs / 1000} s`);
    if (consoleLines.length) console.error(`the pages' consoles:\n${consoleLines.join('\n')}`);
    await cleanup();
    process.exit(1);
  }, timeoutMs);
  let code = 0;
  try {
    await test();
  } catch (err) {
    code = 1;
    console.error(`${label}: FAILED: ${err instanceof Failure ? err.message : err?.stack || err}`);
    if (pageErrors.length) console.error(pageErrors.join('\n'));
    if (consoleLines.length) console.error(`the pages' consoles:\n${consoleLines.join('\n')}`);
  } finally {
    await cleanup();
    clearTimeout(watchdog);
  }
  process.exit(code);
}
