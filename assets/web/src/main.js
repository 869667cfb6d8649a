// Skirmish browser client: wires login, the connection, the game state,
// input, rendering and the DOM screens together.
//
// Three clocks drive the client, each for its own reason:
// - server messages (snapshots at the tick rate) update the state;
// - a timer at the tick rate sends exactly one input per tick (input_clock.js:
//   a move key's change goes at once, in the next tick's place), because the
//   node applies one per tick and rate-limits anything beyond;
// - requestAnimationFrame draws at the display's rate, interpolating between
//   snapshots so motion is smooth whatever the tick rate.

import { Connection, LoginError, createSession } from './net.js';
import * as proto from './protocol.js';
import { GameState } from './state.js';
import { Renderer } from './render.js';
import { Controls } from './input.js';
import { Ui } from './ui.js';
import { LobbyPanel } from './lobby.js';
import { LeaderboardPanel } from './leaderboard.js';
import { overlayText } from './netstats.js';
import { InputClock } from './input_clock.js';

const NAME_KEY = 'skirmish.name';

const canvas = document.getElementById('game');
const game = new GameState();
const ui = new Ui();
const renderer = new Renderer(canvas);
const controls = new Controls(canvas, () => game.phase === 'playing');

let conn = null;
const send = (message) => conn?.send(message);
const lobby = new LobbyPanel({ send, toast: (m, kind) => ui.toast(m, kind) });
const leaderboard = new LeaderboardPanel({ send, playerId: () => game.playerId });
// Whether the current Connection has been welcomed before: a later welcome
// means it came back after a drop.
let welcomedBefore = false;
let inputTimer = 0;
let inputClock = null;
// Inputs sent repeating the ones before them (over WebTransport), for tests.
let inputsRepeating = 0;

function setPhase(phase) {
  game.phase = phase;
  ui.showPhase(game);
  showPanels();
}

/** Chat and leaderboards are there once logged in. */
function showPanels() {
  const loggedIn = game.phase !== 'login' && game.phase !== 'connecting';
  for (const id of ['lobby', 'leaderboard']) document.getElementById(id).hidden = !loggedIn;
}

/** Asks to play the way the player chose: quick play here, or the queue. */
function askToPlay() {
  if (game.playMode === 'quick') conn.send(proto.play());
  else conn.send(proto.queue(game.playMode));
}

// ------------------------------------------------------------------ login

async function login(rawName, mode = 'quick') {
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
  game.playMode = mode;
  game.reconnects = 0;
  welcomedBefore = false;
  conn = new Connection(session, {
    onMessage,
    onStatus,
    onRtt: (ms) => {
      // Smoothed so the HUD does not flicker; the first sample counts fully.
      game.rtt = game.rtt === null ? ms : game.rtt * 0.7 + ms * 0.3;
      game.net.rtt(ms);
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
      game.transport = detail.transport;
      break;
    case 'reconnecting':
      if (game.phase !== 'reconnecting') setPhase('reconnecting');
      ui.reconnecting(detail);
      break;
    case 'failover': {
      // The node went away: a match there went with it (back to the lobby,
      // not into a new match unasked); a queued player queues again there.
      const lostMatch = game.matchId !== null;
      if (lostMatch) game.wantPlay = false;
      game.matchId = null;
      ui.toast(
        `Your server went away; you are now on ${new URL(detail.to).host}.` +
          (lostMatch ? ' The match you were in was lost with it.' : ''),
        'error',
      );
      break;
    }
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
  if (lobby.apply(msg) || leaderboard.apply(msg)) return;
  const changed = game.apply(msg, performance.now());
  switch (msg.type) {
    case 'welcome':
      if (msg.protocol !== proto.PROTOCOL_VERSION) {
        // A page from before the node was upgraded: it would misread games.
        logout('The server was updated: reload the page to play.');
        return;
      }
      startInputTimer();
      lobby.rejoin();
      if (game.pendingJoin) {
        // Arrived at the node hosting our match: take the seat.
        conn.send(proto.joinMatch(game.pendingJoin));
        game.pendingJoin = null;
      } else if (game.wantPlay && !msg.resuming) {
        // After a drop mid-match the node puts us straight back in: welcome
        // says `resuming` and joined (or left, if the seat is gone) follows.
        askToPlay();
      }
      break;
    case 'seat_elsewhere':
      // Our seat in a running match is held on another node (we were in it
      // there before landing here): go back and take it.
      ui.toast('Taking you back to your match…');
      conn.moveTo(msg.hostUrl);
      break;
    case 'match_found':
      if (msg.sameNode) {
        conn.send(proto.joinMatch(msg.ticket));
      } else {
        // The match is on another node: move there and take the seat. The
        // player stays on that node afterwards (its lobby is the same).
        game.pendingJoin = msg.ticket;
        conn.moveTo(msg.hostUrl);
      }
      break;
    case 'joined':
      if (!msg.map) {
        // A game this page cannot draw (a newer node's): back to the lobby.
        conn.send(proto.leave());
        ui.toast(`This page cannot play ${msg.game}; reload it to get the newest client.`, 'error');
        break;
      }
      // Out of the way while playing; a click brings it back.
      document.getElementById('lobby').classList.add('collapsed');
      break;
    case 'match_end':
      document.getElementById('lobby').classList.remove('collapsed');
      setTimeout(() => leaderboard.visible && leaderboard.refresh(), 1500);
      break;
    case 'party_invite':
      ui.invite(msg, () => conn?.send(proto.partyAccept(msg.partyId)));
      break;
    case 'party':
      renderParty();
      break;
  }
  if (changed) {
    ui.showPhase(game);
    showPanels();
  }
}

function renderParty() {
  const el = document.getElementById('party');
  const p = game.party;
  el.textContent = p ? `Party: ${p.members.map((m) => m.name).join(', ')}` : '';
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
  const tickMs = 1000 / game.tickRate;
  if (inputClock?.running && inputClock.tickMs === tickMs) return;
  clearTimeout(inputTimer);
  inputClock = new InputClock(tickMs);
  inputClock.start(performance.now());
  scheduleInput();
}

function scheduleInput() {
  inputTimer = setTimeout(onInputSlot, Math.max(0, inputClock.due - performance.now()));
}

function onInputSlot() {
  if (inputClock.tickMs !== 1000 / game.tickRate) {
    // A match at another tick rate: its own schedule.
    startInputTimer();
    return;
  }
  if (inputClock.slot(performance.now())) sendInput();
  scheduleInput();
}

// A move key pressed or let go moves the own player on this frame, not up
// to a tick later when the next slot comes: the input goes now, in the next
// slot's place (input_clock.js), so inputs stay one a tick.
controls.onChange = () => {
  if (game.phase !== 'playing' || !conn?.ready || !inputClock) return;
  if (inputClock.change()) sendInput();
};

function sendInput() {
  if (game.phase !== 'playing' || !conn?.ready) return;
  const me = game.ownPlayerView();
  const origin = me ? renderer.worldToScreen(me.x, me.y) : null;
  const input = controls.sample(origin);
  const seq = game.nextInput(input, performance.now());
  // Others are drawn at the interpolation point: shots are judged there
  // (not past the newest snapshot: what is carried on beyond it is a guess).
  const newest = game.buffer.latest?.tick;
  const shown = newest === undefined ? null : Math.min(game.buffer.renderTick, newest);
  // Datagrams may be lost: each repeats the inputs before it that the node
  // has not acknowledged yet.
  const earlier = conn.transport === 'webtransport' ? game.unacknowledgedBefore(seq, proto.MAX_EARLIER_INPUTS) : [];
  if (earlier.length) inputsRepeating += 1;
  conn.send(proto.input(seq, conn.ackTick(), input.moveX, input.moveY, input.aim, input.fire, game.game, shown, earlier));
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
    holder: game.latest?.holder ?? null,
  });
  if (playing) ui.updateHud(game);
  if (!netstats.hidden) netstats.textContent = overlayText(game.net, game.predictionStats(now), game.tickRate, game.buffer.delayMs);
}

// The net stats overlay: N shows and hides it (not while typing).
const netstats = document.getElementById('netstats');
window.addEventListener('keydown', (e) => {
  if (e.code !== 'KeyN' || e.repeat || e.target instanceof HTMLInputElement) return;
  netstats.hidden = !netstats.hidden;
});

// ------------------------------------------------------------------ test hook

// Read-only view for end-to-end tests and debugging in the console.
// Positions are arena units (already divided by 8).
const playerView = (p) => ({
  id: p.id,
  team: p.team ?? null,
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
  /** The node the connection talks to (its base URL). */
  get node() {
    return conn?.base ?? null;
  },
  /**
   * The own player's prediction: corrections so far, their rate over the
   * last seconds and the largest (units); null where the game's movement
   * is not predicted.
   */
  get prediction() {
    return game.predictionStats(performance.now());
  },
  /** The game the current match plays (`arena`, `hill`). */
  get game() {
    return game.game ?? null;
  },
  /** The hill's team scores (ticks held) and holder, in the latest snapshot. */
  get hill() {
    const s = game.latest;
    return s?.scores ? { scores: [...s.scores], holder: s.holder } : null;
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
  /** How far behind the newest snapshot others are drawn (ms), as adapted to the jitter. */
  get renderDelayMs() {
    return Math.round(game.buffer.delayMs * 10) / 10;
  },
  get me() {
    // Only while in a match: the last match's final state is not "me" in
    // the lobby or on the results screen.
    const me = game.phase === 'playing' || game.phase === 'reconnecting' ? game.me : null;
    if (!me) return null;
    const { x, y, aim, health, kills, deaths, score } = me;
    return { x, y, aim, health, kills, deaths, score };
  },
  /** Where the own player is drawn (its prediction); `me` is the node's. */
  get drawnMe() {
    const drawn = game.phase === 'playing' ? game.ownPlayerView() : null;
    return drawn ? { x: drawn.x, y: drawn.y } : null;
  },
  get players() {
    return (game.latest?.players ?? []).map(playerView);
  },
  /** Projectiles in the latest snapshot, in arena units. */
  get projectiles() {
    return (game.latest?.projectiles ?? []).map(({ id, x, y }) => ({ id, x, y }));
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
  /** 'webtransport' or 'websocket': what the connection runs on. */
  get transport() {
    return game.transport;
  },
  /** How many inputs repeated the unacknowledged ones before them (`earlier`: over WebTransport only). */
  get inputsRepeating() {
    return inputsRepeating;
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
  /** Chat rooms: members, counts, lines, who is typing. */
  get rooms() {
    return lobby.snapshot();
  },
  /** The last leaderboard answers (top and around the player). */
  get leaderboard() {
    return leaderboard.snapshot();
  },
  get rating() {
    return game.rating ? { ...game.rating } : null;
  },
  get queue() {
    return game.queue ? { ...game.queue } : null;
  },
  get party() {
    return game.party;
  },
  /** The node this page's connection talks to (the match host after a redirect). */
  get server() {
    return conn?.base ?? null;
  },
  /** Invites a player to our party (for tests and the console). */
  invite(playerId) {
    conn?.send(proto.partyInvite(playerId));
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

function playAs(mode) {
  if (!conn?.ready) return;
  game.wantPlay = true;
  game.playMode = mode;
  game.rating = null;
  askToPlay();
  setPhase('lobby');
}

ui.bind({
  login,
  playAgain: () => playAs('quick'),
  findMatch: () => playAs(ui.selectedMode()),
  cancelQueue: () => conn?.send(proto.cancelQueue()),
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
