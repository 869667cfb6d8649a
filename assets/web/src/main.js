// Skirmish browser client: wires login, the connection, the game state,
// input, rendering and the DOM screens together.
//
// Three clocks drive the client, each for its own reason:
// - server messages (snapshots at the tick rate) update the state;
// - a timer at the tick rate sends exactly one input per tick, because the
//   node applies one per tick and rate-limits anything beyond;
// - requestAnimationFrame draws at the display's rate, interpolating between
//   snapshots so motion is smooth whatever the tick rate.

import { Connection, LoginError, createSession } from './net.js';
import * as proto from './protocol.js';
import { GameState } from './state.js';
import { Renderer } from './render.js';
import { Controls } from './input.js';
import { Ui } from './ui.js';

const NAME_KEY = 'skirmish.name';

const canvas = document.getElementById('game');
const game = new GameState();
const ui = new Ui();
const renderer = new Renderer(canvas);
const controls = new Controls(canvas, () => game.phase === 'playing');

let conn = null;
// Whether the current Connection has been welcomed before: a later welcome
// means it came back after a drop.
let welcomedBefore = false;
let inputTimer = 0;
let inputTickRate = 0;

function setPhase(phase) {
  game.phase = phase;
  ui.showPhase(game);
}

// ------------------------------------------------------------------ login

async function login(rawName) {
  const name = rawName.trim();
  if (!name) {
    ui.loginError('Enter a name to play.');
    return;
  }
  ui.setLoginBusy(true);
  ui.loginError('');
  setPhase('connecting');
  let session;
  try {
    session = await createSession(name);
  } catch (err) {
    setPhase('login');
    ui.loginError(err instanceof LoginError ? err.message : 'Could not reach the server. Try again.');
    return;
  }
  try {
    localStorage.setItem(NAME_KEY, session.name);
  } catch {
    // Storage may be disabled (privacy mode); remembering the name is a nicety.
  }
  game.name = session.name;
  game.playerId = session.playerId;
  game.wantPlay = true;
  game.reconnects = 0;
  welcomedBefore = false;
  conn = new Connection(session, {
    onMessage,
    onStatus,
    onRtt: (ms) => {
      // Smoothed so the HUD does not flicker; the first sample counts fully.
      game.rtt = game.rtt === null ? ms : game.rtt * 0.7 + ms * 0.3;
    },
    onSession: (s) => {
      game.playerId = s.playerId;
      game.name = s.name;
    },
  });
  conn.start();
}

function logout(message) {
  conn?.stop();
  conn = null;
  game.wantPlay = false;
  game.matchId = null;
  game.buffer.clear();
  setPhase('login');
  ui.loginError(message ?? '');
}

// ------------------------------------------------------------------ connection

function onStatus(status, detail) {
  switch (status) {
    case 'connecting':
      if (game.phase === 'login') setPhase('connecting');
      break;
    case 'open':
      if (welcomedBefore) game.reconnects += 1;
      welcomedBefore = true;
      break;
    case 'reconnecting':
      if (game.phase !== 'reconnecting') setPhase('reconnecting');
      ui.reconnecting(detail);
      break;
    case 'closed':
      logout(
        detail.replaced
          ? 'This player connected from another tab or device, so this one was signed out.'
          : `Disconnected: ${detail.reason || 'the server closed the connection'}.`,
      );
      break;
  }
}

function onMessage(msg) {
  if (msg.type === 'error') {
    onServerError(msg);
    return;
  }
  const changed = game.apply(msg, performance.now());
  if (msg.type === 'welcome') {
    startInputTimer();
    // After a drop mid-match the node puts us straight back in: welcome
    // says `resuming` and joined (or left, if the seat is gone) follows.
    if (game.wantPlay && !msg.resuming) conn.send(proto.play());
  }
  if (changed) ui.showPhase(game);
}

function onServerError({ code, message }) {
  switch (code) {
    case 'already_in_match':
      // A play that crossed a resumed match on the wire.
      if (game.phase === 'playing') return;
      break;
    case 'not_in_match':
      // Inputs still in flight when the match ended or we left.
      if (game.phase !== 'playing') return;
      break;
    case 'no_match_available':
      game.wantPlay = false;
      setPhase('lobby');
      break;
  }
  ui.toast(message || code, 'error');
}

// ------------------------------------------------------------------ input

function startInputTimer() {
  if (inputTimer && inputTickRate === game.tickRate) return;
  clearInterval(inputTimer);
  inputTickRate = game.tickRate;
  inputTimer = setInterval(sendInput, 1000 / game.tickRate);
}

function sendInput() {
  if (game.phase !== 'playing' || !conn?.ready) return;
  const me = game.ownPlayerView();
  const origin = me ? renderer.worldToScreen(me.x, me.y) : null;
  const input = controls.sample(origin);
  const seq = game.nextInput(input, performance.now());
  conn.send(proto.input(seq, input.moveX, input.moveY, input.aim, input.fire));
}

// ------------------------------------------------------------------ drawing

const EMPTY = new Map();
let blank = false;
// What the last frame drew, for tests that check interpolation.
let lastView = null;

function frame(now) {
  requestAnimationFrame(frame);
  game.expire(now);
  if (!game.map || game.phase === 'login' || game.phase === 'connecting') {
    // Nothing to show behind the login screen; clear once, not every frame.
    if (!blank) renderer.clear();
    blank = true;
    return;
  }
  blank = false;
  const tick = game.buffer.advance(now);
  const sample = tick === null ? null : game.buffer.sample(tick);
  const playing = game.phase === 'playing';
  lastView = sample;
  renderer.draw({
    map: game.map,
    rules: game.rules,
    you: game.you,
    players: sample?.players ?? EMPTY,
    projectiles: sample?.projectiles ?? [],
    packs: game.latest?.packs,
    me: game.ownPlayerView(),
    // The own aim follows the mouse at once rather than a round trip later.
    myAim: playing ? controls.lastAim : null,
    nameOf: (id) => game.nameOf(id),
    hitFlash: game.hitFlash,
  });
  if (playing) ui.updateHud(game);
}

// ------------------------------------------------------------------ test hook

// Read-only view for end-to-end tests and debugging in the console.
// Positions are arena units (already divided by 8).
const playerView = (p) => ({
  id: p.id,
  name: game.nameOf(p.id),
  x: p.x,
  y: p.y,
  aim: p.aim,
  health: p.health,
  kills: p.kills,
  deaths: p.deaths,
  score: p.score,
});

window.__skirmish = Object.freeze({
  get phase() {
    return game.phase;
  },
  get name() {
    return game.name;
  },
  get playerId() {
    return game.playerId;
  },
  get matchId() {
    return game.matchId;
  },
  get you() {
    return game.you;
  },
  get tickRate() {
    return game.tickRate;
  },
  get tick() {
    return game.tick;
  },
  get ticksLeft() {
    return game.ticksLeft;
  },
  get rtt() {
    return game.rtt === null ? null : Math.round(game.rtt * 10) / 10;
  },
  get me() {
    // Only while in a match: the last match's final state is not "me" in
    // the lobby or on the results screen.
    const me = game.phase === 'playing' || game.phase === 'reconnecting' ? game.me : null;
    if (!me) return null;
    const { x, y, aim, health, kills, deaths, score } = me;
    return { x, y, aim, health, kills, deaths, score };
  },
  get players() {
    return (game.latest?.players ?? []).map(playerView);
  },
  get roster() {
    return [...game.roster.values()].map((r) => ({ ...r }));
  },
  get results() {
    return game.results ? game.results.map((r) => ({ ...r })) : null;
  },
  get endReason() {
    return game.endReason;
  },
  get reconnects() {
    return game.reconnects;
  },
  get ack() {
    return game.ack;
  },
  get seq() {
    return game.seq;
  },
  get map() {
    return game.map;
  },
  get rules() {
    return game.rules;
  },
  /** The tick and interpolated players of the last drawn frame. */
  get view() {
    if (!lastView) return null;
    return { tick: lastView.tick, players: [...lastView.players.values()].map(playerView) };
  },
  /** Arena → page coordinates (CSS pixels), to point the mouse at things. */
  toScreen(x, y) {
    const r = canvas.getBoundingClientRect();
    const s = renderer.worldToScreen(x, y);
    return { x: r.left + s.x, y: r.top + s.y };
  },
});

// ------------------------------------------------------------------ start

ui.bind({
  login,
  playAgain: () => {
    if (!conn?.ready) return;
    game.wantPlay = true;
    game.rating = null;
    conn.send(proto.play());
    setPhase('lobby');
  },
  leave: () => conn?.send(proto.leave()),
  giveUp: () => logout(),
});

try {
  const saved = localStorage.getItem(NAME_KEY);
  if (saved) document.getElementById('name').value = saved;
} catch {
  // See login(): storage is optional.
}

// A clean close tells the node at once that we left, instead of it waiting
// out the idle timeout.
window.addEventListener('pagehide', () => conn?.stop());
// A page restored from the back/forward cache has a stopped connection.
window.addEventListener('pageshow', (e) => {
  if (e.persisted && conn) logout('Disconnected while the page was away.');
});

setPhase('login');
requestAnimationFrame(frame);
