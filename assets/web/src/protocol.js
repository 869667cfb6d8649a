// The Skirmish wire protocol (PROTOCOL.md, shared/src/proto.rs), version 4.
//
// Every message is one MessagePack array: the type string, then the fields in
// declaration order. This module is the only place that knows those field
// orders; the rest of the client works with the named objects built here, so
// a protocol change touches one file.
//
// Two values are the game's, not the engine's: the controls in `input` and
// `joined`'s setup. Snapshots are the engine's: quantised entities decoded
// with the schema `joined` carries (replication.js). GAMES below reads the
// setup and the decoded entities of each game this client draws (the
// arena, PROTOCOL.md section 12; the hill, section 13) into one shape the
// renderer draws: a map, rules, players.

import { Decoder, Encoder } from '@msgpack/msgpack';
import { parseSchema } from './replication.js';

export const PROTOCOL_VERSION = 4;

// WebSocket close codes the node uses besides 1000/1001/1009.
export const CLOSE = Object.freeze({
  NORMAL: 1000,
  SHUTDOWN: 1001,
  TOO_BIG: 1009,
  IDLE_TIMEOUT: 4000,
  TOO_MANY_ERRORS: 4001,
  RATE_LIMIT: 4002,
  REPLACED: 4003,
  TOO_SLOW: 4004,
});

// One encoder and decoder for the connection's lifetime: both keep internal
// buffers, and reusing them avoids an allocation per message at 30+ Hz.
const encoder = new Encoder();
const decoder = new Decoder();

/** Encodes a client message (an array) for one binary frame. */
export function encode(message) {
  return encoder.encode(message);
}

// ---------------------------------------------------------------- client → node

export const play = () => ['play'];
export const leave = () => ['leave'];
export const ping = (clientTime) => ['ping', clientTime];
export const joinRoom = (room) => ['join_room', room];
export const leaveRoom = (room) => ['leave_room', room];
export const chat = (room, text) => ['chat', room, text];
export const typing = (room) => ['typing', room];
export const queue = (mode) => ['queue', mode];
export const cancelQueue = () => ['cancel_queue'];
export const joinMatch = (ticket) => ['join_match', ticket];
export const partyInvite = (playerId) => ['party_invite', playerId];
export const partyAccept = (partyId) => ['party_accept', partyId];
export const partyLeave = () => ['party_leave'];

/** A leaderboard page: the top `limit`, the `limit` after `cursor`, or (aroundMe) the `limit` centred on the player. */
export function leaderboard(requestId, board, period, { aroundMe = false, cursor = null, limit = 10 } = {}) {
  return ['leaderboard', requestId >>> 0, board, period, Boolean(aroundMe), cursor, limit];
}

/** The most earlier inputs an `input` repeats (PROTOCOL.md section 4). */
export const MAX_EARLIER_INPUTS = 2;

/**
 * An `input`. `earlier` (objects with `moveX`, `moveY`, `aim`, `fire`, newest
 * first: `seq - 1`, `seq - 2`) repeats the inputs before it, for a node that
 * lost them on the way (datagrams).
 */
export function input(seq, tick, moveX, moveY, aim, fire, game = 'arena', shown = null, earlier = []) {
  // The engine's part is the type, `seq` and the newest snapshot tick
  // decoded (the node's next snapshots are deltas against it); the game's
  // controls are one array after them. Then, if known, the tick others are
  // drawn at, for lag compensation (nil when unknown and `earlier` follows).
  const msg = ['input', seq >>> 0, tick >>> 0, controls(game, moveX, moveY, aim, fire)];
  const knownShown = Number.isFinite(shown) && shown >= 1;
  if (knownShown || earlier.length) msg.push(knownShown ? Math.round(shown) >>> 0 : null);
  if (earlier.length) {
    msg.push(earlier.slice(0, MAX_EARLIER_INPUTS).map((e) => controls(game, e.moveX, e.moveY, e.aim, e.fire)));
  }
  return msg;
}

/**
 * A game's controls as its input documents them (the hill has no aim:
 * firing shoves). The node refuses non-finite or out-of-range numbers, so
 * clamp here rather than trust every caller.
 */
function controls(game, moveX, moveY, aim, fire) {
  return game === 'hill'
    ? [clampAxis(moveX), clampAxis(moveY), Boolean(fire)]
    : [clampAxis(moveX), clampAxis(moveY), clampAngle(aim), Boolean(fire)];
}

function clampAxis(v) {
  return Number.isFinite(v) ? Math.max(-1, Math.min(1, v)) : 0;
}

function clampAngle(a) {
  return Number.isFinite(a) ? Math.max(-Math.PI, Math.min(Math.PI, a)) : 0;
}

// ---------------------------------------------------------------- node → client

/**
 * Decodes one binary frame into a named message object, or returns null when
 * the frame is not a message this client understands (a newer node may send
 * types we do not know yet; ignoring them keeps old clients playing).
 */
export function decodeServer(bytes) {
  let raw;
  try {
    raw = decoder.decode(bytes);
  } catch {
    return null;
  }
  if (!Array.isArray(raw) || typeof raw[0] !== 'string') return null;
    const parse = PARSERS[raw[0]];
  // A message with fewer elements than its type has is broken, not merely
  // from a newer node (which may add elements at the end).
  if (!parse || raw.length < (ARITY[raw[0]] ?? 1)) return null;
  try {
    return parse(raw);
  } catch {
    // A shape we cannot read is treated like an unknown message rather than
    // taking the whole client down.
    return null;
  }
}

const PARSERS = {
  welcome: ([type, protocol, playerId, name, tickRate, resuming]) => ({
    type,
    protocol,
    playerId,
    name,
    tickRate,
    resuming: Boolean(resuming),
  }),
  // `game` names what `setup`, the snapshots' state and the inputs hold; a
  // game this client cannot draw comes without a map (the caller leaves).
  joined: ([type, matchId, you, tick, game, setup, schema]) => ({
    type,
    matchId,
    you,
    tick,
    game,
    schema: parseSchema(schema),
    ...(GAMES[game] ? GAMES[game].setup(setup) : { map: null, rules: null }),
  }),
  roster: ([type, players]) => ({
    type,
    players: players.map(([id, name, connected]) => ({ id, name, connected })),
  }),
  // The data is decoded by the connection's replica (`base` is the tick it
  // is a delta against, null for a full snapshot), then read by
  // `snapshotView` as the game of the last `joined`.
  snapshot: ([type, tick, ack, base, data]) => ({ type, tick, ack, base, data }),
  match_end: ([type, matchId, reason, results]) => ({
    type,
    matchId,
    reason,
    // Each line's stats are a map by name: the arena's kills, deaths and
    // score; the hill's hill_s, shoves and team_score_s.
    results: results.map(([id, name, placement, team, stats]) => ({
      id,
      name,
      placement,
      team,
      stats,
      kills: stats.kills ?? 0,
      deaths: stats.deaths ?? 0,
      score: stats.score ?? 0,
    })),
  }),
  left: ([type, matchId]) => ({ type, matchId }),
  pong: ([type, clientTime, serverTime]) => ({ type, clientTime, serverTime }),
  rating: ([type, matchId, rating, delta]) => ({ type, matchId, rating, delta }),
  error: ([type, code, message]) => ({ type, code, message }),
  room_joined: ([type, room, members, history]) => ({
    type,
    room,
    members: members.map(parseMember),
    history: history.map((line) => parseChatLine(['chat', ...line])),
  }),
  room_left: ([type, room]) => ({ type, room }),
  chat: (raw) => parseChatLine(raw),
  presence: ([type, room, playerId, name, joined, count]) => ({ type, room, playerId, name, joined, count }),
  typing: ([type, room, playerId, name]) => ({ type, room, playerId, name }),
  leaderboard: ([type, requestId, board, period, resetsAtMs, total, entries, nextCursor]) => ({
    type,
    requestId,
    board,
    period,
    resetsAtMs,
    total,
    entries: entries.map(([rank, playerId, name, score]) => ({ rank, playerId, name, score })),
    nextCursor,
  }),
  queue_update: ([type, mode, waitedMs, searching]) => ({ type, mode, waitedMs, searching }),
  queue_left: ([type, reason]) => ({ type, reason }),
  match_found: ([type, matchId, hostUrl, ticket, sameNode]) => ({ type, matchId, hostUrl, ticket, sameNode }),
  seat_elsewhere: ([type, matchId, hostUrl]) => ({ type, matchId, hostUrl }),
  party: ([type, partyId, leader, members]) => ({ type, partyId, leader, members: members.map(parseMember) }),
  party_invite: ([type, partyId, from, name]) => ({ type, partyId, from, name }),
};

/** Elements (type included) each message has. */
const ARITY = {
  welcome: 6,
  joined: 7,
  roster: 2,
  snapshot: 5,
  match_end: 4,
  left: 2,
  pong: 3,
  rating: 4,
  error: 3,
  room_joined: 4,
  room_left: 2,
  chat: 7,
  presence: 6,
  typing: 4,
  leaderboard: 8,
  queue_update: 4,
  queue_left: 2,
  match_found: 5,
  seat_elsewhere: 3,
  party: 4,
  party_invite: 4,
};

function parseMember([playerId, name]) {
  return { playerId, name };
}

function parseChatLine([type, room, id, playerId, name, text, sentAtMs]) {
  return { type, room, id, playerId, name, text, sentAtMs };
}

function parseMap([name, width, height, obstacles, healthPacks]) {
  return {
    name,
    width,
    height,
    obstacles: obstacles.map(([x, y, w, h]) => ({ x, y, w, h })),
    healthPacks: healthPacks.map(([x, y]) => ({ x, y })),
  };
}

function parseRules([
  playerRadius,
  projectileRadius,
  packRadius,
  maxHealth,
  killLimit,
  maxPlayers,
  maxSpeed,
  acceleration,
  friction,
  projectileSpeed,
  projectileLifeS,
  fireCooldownS,
]) {
  return {
    playerRadius,
    projectileRadius,
    packRadius,
    maxHealth,
    killLimit,
    maxPlayers,
    maxSpeed,
    acceleration,
    friction,
    projectileSpeed,
    projectileLifeS,
    fireCooldownS,
  };
}

/**
 * What the renderer draws of a decoded snapshot of `game`: `replica` holds
 * the schema, `state` the entities, `events` those new in it; `ctx` has the
 * match's rules and the node's tick rate (shots are placed from where and
 * when they were fired).
 */
export function snapshotView(game, replica, state, events, tick, ctx) {
  const view = GAMES[game]?.view;
  if (!view) throw new Error('a game this client cannot draw');
  return view(replica, state, events, tick, ctx);
}

/** A game's `joined.setup` as this client reads it (the wire's arrays parsed). */
export function parseSetup(game, setup) {
  const parse = GAMES[game]?.setup;
  if (!parse) throw new Error('a game this client cannot draw');
  return parse(setup);
}

/** Ticks left on a clock that runs out at `endsAt`. */
function left(endsAt, tick) {
  return Math.max(0, (endsAt ?? tick) - tick);
}

/** How this client reads each game's setup and entities. */
const GAMES = {
  arena: {
    setup: ([map, rules]) => ({ map: parseMap(map), rules: parseRules(rules) }),
    view: (replica, state, events, tick, { rules, tickRate }) => {
      const speed = (rules?.projectileSpeed ?? 0) / (tickRate || 30);
      const [clock] = replica.entities(state, 'clock');
      return {
        ticksLeft: left(clock?.ends_at, tick),
        players: replica.entities(state, 'player'),
        // A shot flies straight from where it was fired: placed here.
        projectiles: replica.entities(state, 'projectile').map((s) => {
          const flown = (((tick - s.at) % 65536) + 65536) % 65536;
          return { id: s.id, x: s.x + Math.cos(s.dir) * speed * flown, y: s.y + Math.sin(s.dir) * speed * flown };
        }),
        packs: replica.entities(state, 'pack').map((p) => p.up === 1),
        events: replica.namedEvents(events),
      };
    },
  },
  hill: {
    // `[width, height, hill_radius, player_radius, shove_reach, score_to_win_s]`:
    // an open field with the hill in its middle, no walls, packs or shots.
    setup: ([width, height, hillRadius, playerRadius, shoveReach, scoreToWinS]) => ({
      map: {
        name: 'King of the hill',
        width,
        height,
        obstacles: [],
        healthPacks: [],
        hill: { x: width / 2, y: height / 2, r: hillRadius },
      },
      rules: { playerRadius, projectileRadius: 0, packRadius: 0, maxHealth: 0, maxPlayers: 0, shoveReach, scoreToWinS },
    }),
    view: (replica, state, _events, tick) => {
      const [field] = replica.entities(state, 'field');
      return {
        ticksLeft: left(field?.ends_at, tick),
        scores: [field?.score_0 ?? 0, field?.score_1 ?? 0],
        holder: field && field.holder > 0 ? field.holder - 1 : null,
        players: replica.entities(state, 'player').map((p) => ({
          id: p.id,
          team: p.team,
          x: p.x,
          y: p.y,
          aim: 0,
          health: 1,
          kills: 0,
          deaths: 0,
          score: 0,
        })),
        projectiles: [],
        packs: [],
        events: [],
      };
    },
  },
};
