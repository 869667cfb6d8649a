// The client's model of the game: what the node has told us, folded into
// one object that rendering, the HUD and tests read.
//
// Message handling lives here and nowhere else, so the order-dependent parts
// of the protocol (welcome → joined → roster → snapshots → match_end) are
// easy to follow in one place.

import { SnapshotBuffer } from './interp.js';
import { movementRules } from './movement.js';
import { Predictor } from './predict.js';
import { NetStats } from './netstats.js';

const KILL_FEED_SIZE = 5;
const KILL_FEED_MS = 6000;
const HIT_FLASH_MS = 180;
// Inputs the node has not acknowledged yet, kept for client-side prediction
// (replaying them on top of the last acknowledged state). Bounded so a node
// that stops acknowledging cannot grow it without limit.
const MAX_PENDING_INPUTS = 128;

export class GameState {
  constructor() {
    this.phase = 'login';
    this.name = '';
    this.playerId = null;
    this.tickRate = 30;
    this.matchId = null;
    this.you = null;
    this.map = null;
    this.rules = null;
    this.roster = new Map();
    this.tick = 0;
    this.ack = 0;
    this.ticksLeft = 0;
    this.rtt = null;
    /** 'webtransport' or 'websocket', once welcomed. */
    this.transport = null;
    this.results = null;
    this.endReason = null;
    this.rating = null;
    this.reconnects = 0;
    // Whether the player asked to be in a match; survives reconnects so a
    // drop while queueing or playing brings them back in.
    this.wantPlay = false;
    // 'quick' (this node's open matches) or a matchmaking mode such as 'ffa'.
    this.playMode = 'quick';
    // While queued: { mode, waitedMs, searching }.
    this.queue = null;
    // A join ticket to present once connected to the match's host.
    this.pendingJoin = null;
    // The party we are in: { partyId, leader, members }.
    this.party = null;
    this.killFeed = [];
    this.hitFlash = new Map();
    this.buffer = new SnapshotBuffer(this.tickRate);
    this.seq = 0;
    this.pendingInputs = [];
    // The own player's predicted movement (games whose movement this
    // client knows: the arena), or null.
    this.predictor = null;
    // Round trips and snapshot arrivals, for the net stats overlay.
    this.net = new NetStats();
    // Names of players from finished matches, so a late event or a results
    // line can still be labelled.
    this.knownNames = new Map();
  }

  get latest() {
    return this.buffer.latest;
  }

  /** The own player from the newest snapshot (arena units), or null. */
  get me() {
    const snap = this.latest;
    if (!snap || this.you === null) return null;
    return snap.players.find((p) => p.id === this.you) ?? null;
  }

  /**
   * Where to draw the own player: the newest authoritative state, moved to
   * the predicted position (predict.js) where the game's movement is known,
   * so the own player reacts to a key on the next input instead of a round
   * trip later.
   */
  ownPlayerView(now = globalThis.performance?.now() ?? Date.now()) {
    const me = this.me;
    const drawn = me && this.predictor?.drawn(now);
    return drawn ? { ...me, x: drawn[0], y: drawn[1] } : me;
  }

  /** The prediction's figures, for the net overlay and tests. */
  predictionStats(now) {
    const p = this.predictor;
    if (!p) return null;
    return { corrections: p.corrections, perSecond: p.correctionRate(now), largest: p.largest };
  }

  nameOf(id) {
    return this.roster.get(id)?.name ?? this.knownNames.get(id) ?? `Player ${id}`;
  }

  /**
   * A new socket: number inputs from 1 again. (The node only needs each
   * `seq` above the previous one since the last `joined`, so the count may
   * also run on across matches on one socket.)
   */
  resetConnection() {
    this.seq = 0;
    this.pendingInputs.length = 0;
    if (this.predictor) this.predictor.history.length = 0;
  }

  /** Records an input about to be sent and returns its sequence number. */
  nextInput(input, now) {
    this.seq += 1;
    this.pendingInputs.push({ seq: this.seq, sentAt: now, ...input });
    if (this.pendingInputs.length > MAX_PENDING_INPUTS) this.pendingInputs.shift();
    this.predictor?.input(this.seq, input.moveX, input.moveY);
    return this.seq;
  }

  /**
   * The inputs sent just before `seq` and not acknowledged yet, newest
   * first, at most `count` (for `input`'s `earlier`).
   */
  unacknowledgedBefore(seq, count) {
    const out = [];
    for (let i = this.pendingInputs.length - 1; i >= 0 && out.length < count; i--) {
      const p = this.pendingInputs[i];
      if (p.seq === seq) continue;
      if (p.seq !== seq - 1 - out.length) break;
      out.push(p);
    }
    return out;
  }

  /**
   * Folds one server message into the state. Returns true when the phase or
   * something shown outside the canvas (results, roster) changed, so the
   * caller knows to refresh screens.
   */
  apply(msg, now) {
    switch (msg.type) {
      case 'welcome':
        this.playerId = msg.playerId;
        this.name = msg.name;
        if (msg.tickRate !== this.tickRate) {
          this.tickRate = msg.tickRate;
          this.buffer = new SnapshotBuffer(this.tickRate);
        }
        this.resetConnection();
        // After a reconnect with the results on screen, stay there.
        if (this.phase !== 'results' || this.wantPlay) this.phase = 'lobby';
        return true;
      case 'joined':
        if (msg.matchId !== this.matchId) this.killFeed.length = 0;
        this.matchId = msg.matchId;
        this.you = msg.you;
        this.tick = msg.tick;
        this.game = msg.game;
        this.map = msg.map;
        this.rules = msg.rules;
        this.predictor =
          msg.game === 'arena' && msg.map && msg.rules
            ? new Predictor(movementRules({ map: msg.map, rules: msg.rules }), this.tickRate)
            : null;
        this.results = null;
        this.endReason = null;
        this.buffer.clear();
        this.phase = 'playing';
        return true;
      case 'roster':
        this.roster = new Map(msg.players.map((p) => [p.id, p]));
        for (const p of msg.players) this.knownNames.set(p.id, p.name);
        return true;
      case 'snapshot':
        this.onSnapshot(msg, now);
        return false;
      case 'match_end':
        this.results = msg.results;
        this.endReason = msg.reason;
        for (const r of msg.results) this.knownNames.set(r.id, r.name);
        this.wantPlay = false;
        this.phase = 'results';
        this.pendingInputs.length = 0;
        return true;
      case 'left':
        this.wantPlay = false;
        this.matchId = null;
        this.you = null;
        this.buffer.clear();
        this.phase = 'lobby';
        return true;
      case 'rating':
        this.rating = { rating: msg.rating, delta: msg.delta };
        return true;
      case 'queue_update':
        this.queue = { mode: msg.mode, waitedMs: msg.waitedMs, searching: msg.searching };
        if (this.phase !== 'playing') this.phase = 'lobby';
        return true;
      case 'queue_left':
        this.queue = null;
        this.wantPlay = false;
        if (this.phase !== 'playing') this.phase = 'lobby';
        return true;
      case 'match_found':
        this.queue = null;
        return true;
      case 'party':
        this.party = msg.members.length ? { partyId: msg.partyId, leader: msg.leader, members: msg.members } : null;
        return true;
      default:
        return false;
    }
  }

  onSnapshot(snap, now) {
    // A snapshot still in flight when the match ended belongs to no screen.
    if (this.phase !== 'playing') return;
    this.tick = snap.tick;
    this.ack = snap.ack;
    this.ticksLeft = snap.ticksLeft;
    this.buffer.push(snap, now);
    this.net.snapshot(snap.tick, now);
    const me = this.you === null ? null : snap.players?.find((p) => p.id === this.you);
    if (me && this.predictor) this.predictor.authoritative(snap.ack, me.x, me.y, me.health > 0, now);
    if (this.pendingInputs.length && this.pendingInputs[0].seq <= snap.ack) {
      this.pendingInputs = this.pendingInputs.filter((i) => i.seq > snap.ack);
    }
    for (const e of snap.events) {
      if (e.type === 'kill') {
        this.killFeed.push({ killer: e.killer, victim: e.victim, at: now });
        if (this.killFeed.length > KILL_FEED_SIZE) this.killFeed.shift();
      } else if (e.type === 'hit') {
        this.hitFlash.set(e.target, now);
      }
    }
  }

  /** Drops kill feed lines and hit flashes that have had their time. */
  expire(now) {
    while (this.killFeed.length && now - this.killFeed[0].at > KILL_FEED_MS) this.killFeed.shift();
    for (const [id, at] of this.hitFlash) if (now - at > HIT_FLASH_MS) this.hitFlash.delete(id);
  }
}
