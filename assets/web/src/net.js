// Talking to a node: the HTTP login and one connection that reconnects
// itself, over WebTransport where the browser has it and the node offers it
// (snapshots and inputs as datagrams), else over a WebSocket
// (`transport.js` has both).
//
// The connection owns everything about the socket's lifetime (backoff, token
// refresh, heartbeat pings) so the game code only sees decoded messages and
// a small set of status changes.

import { CLOSE, decodeServer, encode, ping, snapshotView } from './protocol.js';
import { Replica } from './replication.js';
import { WsLink, WtLink, hasWebTransport, webTransportOffer } from './transport.js';

// How long WebTransport may take to open before the WebSocket is used.
const WT_CONNECT_TIMEOUT_MS = 3000;
// How long a node whose WebTransport failed is reached over the WebSocket.
const WT_RETRY_AFTER_MS = 60_000;

// Refresh a session this long before it expires, so a reconnect never
// presents a token that lapses during the upgrade.
const EXPIRY_MARGIN_S = 30;
const PING_INTERVAL_MS = 1000;
const MAX_BACKOFF_MS = 10_000;
const BASE_BACKOFF_MS = 500;

/** A login refused by the node (bad name, bad request); not worth retrying. */
export class LoginError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** A node's session endpoint, from its base URL (e.g. `http://127.0.0.1:8080`). */
export function sessionUrl(base) {
  return new URL('/api/session', base).href;
}

/**
 * POST /api/session at the node `base` (this page's node unless given).
 * Resolves to {token, playerId, name, expiresAt}; rejects with a LoginError
 * for a refusal the user must fix, or a TypeError/Error for network trouble
 * that a retry may cure. Other nodes answer cross-origin requests (CORS).
 */
export async function createSession(name, base = pageOrigin()) {
  const response = await fetch(sessionUrl(base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    // A proxy error page or an empty body; handled by the status check below.
  }
  if (response.status >= 400 && response.status < 500 && body?.error) {
    throw new LoginError(body.error, body.message || body.error);
  }
  if (!response.ok || !body?.token) {
    throw new Error(`login failed (HTTP ${response.status})`);
  }
  return { token: body.token, playerId: body.player_id, name: body.name, expiresAt: body.expires_at };
}

/**
 * Whether the node still accepts a token (GET /api/session): a browser learns
 * nothing about why a WebSocket upgrade failed, and a node without a shared
 * session secret forgets its tokens when it restarts. Resolves to null when
 * the node is unreachable, i.e. nothing is known.
 */
async function tokenRejected(base, token) {
  try {
    const url = new URL(sessionUrl(base));
    url.searchParams.set('token', token);
    const response = await fetch(url.href, { cache: 'no-store' });
    return response.status === 401;
  } catch {
    return null;
  }
}

/** Refused connections in a row after which a connection tries another node. */
const FAILOVER_AFTER = 2;

/** The live nodes' URLs as `base` lists them (`GET /api/nodes`), or null. */
async function liveNodes(base) {
  try {
    const response = await fetch(`${base}/api/nodes`, {
      cache: 'no-store',
      signal: AbortSignal.timeout(2000),
    });
    if (!response.ok) return null;
    const body = await response.json();
    return (body.nodes ?? []).map((n) => n.public_url).filter((u) => typeof u === 'string');
  } catch {
    return null;
  }
}

/** Whether two base URLs name the same node. */
function sameNode(a, b) {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

/** Full-jitter exponential backoff: random(0, min(cap, base × 2^attempt)). */
export function backoffDelay(attempt, random = Math.random) {
  return random() * Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** attempt);
}

/** The node this page came from, e.g. `http://127.0.0.1:8080`. */
export function pageOrigin() {
  return `${location.protocol}//${location.host}`;
}

/** The WebSocket URL of a node's base URL (http → ws, https → wss). */
export function socketUrl(base, token) {
  const url = new URL('/ws', base);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('token', token);
  return url.href;
}

/**
 * One logical connection to the node, surviving socket drops.
 *
 * Callbacks:
 * - onMessage(msg): every decoded server message, in order.
 * - onStatus(status, detail): 'connecting' | 'open' (welcome received) |
 *   'reconnecting' ({attempt, delayMs, code}) | 'failover' ({from, to}): the
 *   node went away and the connection goes on at another | 'closed' ({code,
 *   reason, replaced}) when it will not reconnect.
 * - onRtt(ms): a round-trip time sample from ping/pong.
 * - onSession(session): a fresh session was fetched to replace an expired one.
 */
export class Connection {
  constructor(session, { onMessage, onStatus, onRtt, onSession }) {
    this.session = session;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.onRtt = onRtt;
    this.onSession = onSession;
    this.link = null;
    this.attempt = 0;
    this.stopped = false;
    this.retryTimer = 0;
    this.pingTimer = 0;
    this.welcomed = false;
    // The node this connection talks to: the page's, until a found match
    // moves it to the node hosting the match (where it then stays), or the
    // node goes away and it fails over to another.
    this.base = pageOrigin();
    // Every live node the cluster listed when this one last welcomed us:
    // where to look for another when this one goes.
    this.nodes = [];
    // `?transport=ws` in the page's URL keeps to the WebSocket.
    this.allowWebTransport = new URLSearchParams(location.search).get('transport') !== 'ws' && hasWebTransport();
    // A node whose WebTransport failed ({base, until}): reached over the
    // WebSocket until then.
    this.wtFailed = null;
    // Bumped on every open, so a late WebTransport answer is ignored.
    this.generation = 0;
  }

  /** 'webtransport' or 'websocket' while connected, else null. */
  get transport() {
    return this.link?.kind ?? null;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  /** True while a link is open and the node has said welcome. */
  get ready() {
    return this.welcomed && !!this.link?.isOpen;
  }

  /**
   * Sends a client message; dropped silently while there is no link. Inputs
   * go as datagrams over WebTransport.
   */
  send(message) {
    if (!this.link?.isOpen) return false;
    this.link.send(encode(message), message[0] === 'input');
    return true;
  }

  /** Closes for good (logout, page leaving); never reconnects after this. */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.stopPing();
    this.closeLink(CLOSE.NORMAL, 'bye');
  }

  closeLink(code, reason) {
    this.generation += 1;
    if (this.link) {
      const link = this.link;
      this.link = null;
      link.close(code, reason);
    }
  }

  /**
   * Moves to another node (one hosting our match): closes this link
   * normally and connects there at once, without the reconnect backoff.
   */
  moveTo(base) {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.stopPing();
    this.closeLink(CLOSE.NORMAL, 'moving to the match host');
    this.base = base;
    this.attempt = 0;
    this.open();
  }

  /**
   * A snapshot decoded against the match's state and read as its game, or
   * null when it cannot be (no `joined` yet, a game this page cannot draw,
   * or data that does not fit: the node then keeps sending deltas against
   * the last tick acknowledged, and the next ones fit).
   */
  readSnapshot(msg) {
    if (!this.replica) return null;
    try {
      const { state, events } = this.replica.apply(msg.tick, msg.base, msg.data);
      const ctx = { rules: this.rules, tickRate: this.tickRate };
      return { ...msg, ...snapshotView(this.game, this.replica, state, events, msg.tick, ctx) };
    } catch {
      return null;
    }
  }

  /** The snapshot tick to acknowledge in inputs: the newest decoded. */
  ackTick() {
    return this.replica ? this.replica.ack() : 0;
  }

  async open() {
    this.welcomed = false;
    this.onStatus('connecting', { attempt: this.attempt });
    const generation = ++this.generation;
    const handlers = {
      onMessage: (bytes) => this.received(bytes),
      onClose: (code, reason, opened) => this.closed(link, code, reason, opened),
    };
    let link = null;
    const base = this.base;
    const failed = this.wtFailed;
    if (this.allowWebTransport && !(failed?.base === base && performance.now() < failed.until)) {
      const offer = await webTransportOffer(base);
      if (offer) {
        try {
          link = await WtLink.connect(offer, this.session.token, WT_CONNECT_TIMEOUT_MS, handlers);
        } catch {
          // Refused, blocked or too slow: the WebSocket it is, at this
          // node, for a while (a browser cannot tell why it failed).
          if (generation === this.generation) {
            this.wtFailed = { base, until: performance.now() + WT_RETRY_AFTER_MS };
          }
        }
      }
      if (generation !== this.generation) {
        link?.close(CLOSE.NORMAL, 'superseded');
        return;
      }
    }
    link ??= new WsLink(socketUrl(this.base, this.session.token), handlers);
    this.link = link;
    link.start();
  }

  /** One message from the node, over either transport. */
  received(bytes) {
    let msg = decodeServer(bytes);
    if (!msg) return;
    if (msg.type === 'welcome') this.tickRate = msg.tickRate;
    if (msg.type === 'joined') {
      // The match's state starts afresh (also on a reconnect): the node
      // sends a full snapshot next.
      this.game = msg.game;
      this.rules = msg.rules;
      this.replica = new Replica(msg.schema);
    }
    if (msg.type === 'snapshot') {
      msg = this.readSnapshot(msg);
      if (!msg) return;
    }
    if (msg.type === 'welcome') {
      // Only a welcome proves the token and the node are good; resetting
      // the backoff on a mere TCP open would hammer a node that accepts
      // and immediately drops us.
      this.attempt = 0;
      this.welcomed = true;
      this.startPing();
      this.learnNodes();
      this.onStatus('open', { transport: this.transport });
    } else if (msg.type === 'pong') {
      this.onRtt(performance.now() - msg.clientTime);
      return;
    }
    this.onMessage(msg);
  }

  /** The link ended (not by us): reconnect, unless told not to. */
  closed(link, code, reason, opened) {
    if (this.link !== link) return;
    this.link = null;
    this.welcomed = false;
    this.stopPing();
    this.dropped(code, reason, opened);
  }

  dropped(code, reason, opened) {
    if (this.stopped) return;
    if (code === CLOSE.REPLACED) {
      // Another tab or device took over this player; reconnecting would
      // just kick that one off in turn.
      this.stopped = true;
      this.onStatus('closed', { code, reason, replaced: true });
      return;
    }
    const delayMs = backoffDelay(this.attempt);
    this.attempt += 1;
    this.onStatus('reconnecting', { attempt: this.attempt, delayMs, code });
    this.retryTimer = setTimeout(() => this.retry(opened), delayMs);
  }

  async retry(lastOpened) {
    if (this.stopped) return;
    // A node that refused us twice in a row (gone, or shutting down and
    // answering 503): carry on at another live one.
    if (!lastOpened && this.attempt >= FAILOVER_AFTER) {
      const other = await this.otherNode();
      if (this.stopped) return;
      if (other) {
        const from = this.base;
        this.base = other;
        this.attempt = 0;
        this.onStatus('failover', { from, to: other });
      }
    }
    try {
      const expired = Date.now() / 1000 >= this.session.expiresAt - EXPIRY_MARGIN_S;
      // A socket that never opened may have been refused for its token; ask.
      const rejected = !expired && !lastOpened ? await tokenRejected(this.base, this.session.token) : false;
      if (expired || rejected) {
        // At the node we connect to, which may not be the page's (after a
        // move to a match host): its token is surely one it accepts, and
        // the page's node may be the one that went away.
        this.session = await createSession(this.session.name, this.base);
        this.onSession?.(this.session);
      }
    } catch (err) {
      if (this.stopped) return;
      if (err instanceof LoginError) {
        // The node refuses our name now: nothing a retry can fix.
        this.stopped = true;
        this.onStatus('closed', { code: 0, reason: err.message, replaced: false });
        return;
      }
      // The node is unreachable; back off and try again.
      this.dropped(0, 'login failed', false);
      return;
    }
    if (!this.stopped) this.open();
  }

  /** Remembers the cluster's live nodes (`GET /api/nodes`), for a failover. */
  async learnNodes() {
    const live = await liveNodes(this.base);
    if (live) this.nodes = live;
  }

  /**
   * Another live node than the one we are on, asked of the nodes we knew
   * (in random order); null when none answers or lists another.
   */
  async otherNode() {
    const others = this.nodes.filter((url) => !sameNode(url, this.base));
    others.sort(() => Math.random() - 0.5);
    for (const url of others) {
      const live = (await liveNodes(url))?.filter((u) => !sameNode(u, this.base));
      if (live?.length) return live[Math.floor(Math.random() * live.length)];
    }
    return null;
  }

  startPing() {
    this.stopPing();
    const sendPing = () => this.send(ping(performance.now()));
    sendPing();
    this.pingTimer = setInterval(sendPing, PING_INTERVAL_MS);
  }

  stopPing() {
    clearInterval(this.pingTimer);
    this.pingTimer = 0;
  }
}
