// The two ways to a node, behind one small interface `net.js` drives:
// `start()`, `send(bytes, unreliable)`, `close(code, reason)`, `isOpen`, `kind`, and
// the callbacks `onMessage(bytes)` and `onClose(code, reason, opened)`.
//
// - WebSocket: one message per binary frame (PROTOCOL.md section 3).
// - WebTransport (section 3, "WebTransport"): the node opens the control
//   stream, on which records travel both ways (kind byte, u32 length,
//   payload; kind 1 is the close with its code), and snapshots and inputs
//   go as datagrams.

export const RECORD_MESSAGE = 0;
export const RECORD_CLOSE = 1;
const HEADER = 5;

/** A stream record: kind, big-endian u32 length, payload. */
export function record(kind, payload) {
  const out = new Uint8Array(HEADER + payload.length);
  out[0] = kind;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, HEADER);
  return out;
}

/** A close record: big-endian u16 code, then the reason in UTF-8. */
export function closeRecord(code, reason) {
  const text = new TextEncoder().encode(reason);
  const payload = new Uint8Array(2 + text.length);
  new DataView(payload.buffer).setUint16(0, code);
  payload.set(text, 2);
  return record(RECORD_CLOSE, payload);
}

/** Reassembles records from stream chunks of any size. */
export class RecordReader {
  constructor(max = 1 << 20) {
    this.buf = new Uint8Array(0);
    this.max = max;
  }

  push(chunk) {
    const joined = new Uint8Array(this.buf.length + chunk.length);
    joined.set(this.buf);
    joined.set(chunk, this.buf.length);
    this.buf = joined;
  }

  /** The next whole record ({kind, payload} or {kind, code, reason}), or null; throws on a broken stream. */
  next() {
    if (this.buf.length < HEADER) return null;
    const view = new DataView(this.buf.buffer, this.buf.byteOffset);
    const kind = this.buf[0];
    const len = view.getUint32(1);
    if (kind !== RECORD_MESSAGE && kind !== RECORD_CLOSE) throw new Error(`unknown record kind ${kind}`);
    if (len > this.max) throw new Error(`a record of ${len} bytes`);
    if (this.buf.length < HEADER + len) return null;
    const payload = this.buf.slice(HEADER, HEADER + len);
    this.buf = this.buf.slice(HEADER + len);
    if (kind === RECORD_MESSAGE) return { kind, payload };
    if (payload.length < 2) throw new Error('a short close record');
    const code = new DataView(payload.buffer).getUint16(0);
    return { kind, code, reason: new TextDecoder().decode(payload.subarray(2)) };
  }
}

/** A WebSocket link. */
export class WsLink {
  constructor(url, { onMessage, onClose }) {
    this.kind = 'websocket';
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
    };
    ws.onmessage = (event) => {
      if (event.data instanceof ArrayBuffer) onMessage(new Uint8Array(event.data));
    };
    // onerror always precedes onclose; all handling happens in onclose.
    ws.onerror = () => {};
    ws.onclose = (event) => onClose(event.code, event.reason, opened);
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Nothing to start: events come from the next turn of the event loop. */
  start() {}

  send(bytes) {
    this.ws.send(bytes);
  }

  /** Closes without calling back. */
  close(code, reason) {
    const ws = this.ws;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    ws.close(code, reason);
  }
}

/** Whether this browser has WebTransport. */
export function hasWebTransport() {
  return typeof WebTransport === 'function';
}

/** `GET /api/webtransport` at `base`: {url, hashes}, or null when not offered. */
export async function webTransportOffer(base) {
  try {
    const response = await fetch(`${base}/api/webtransport`, {
      cache: 'no-store',
      signal: AbortSignal.timeout(2000),
    });
    if (!response.ok) return null;
    const body = await response.json();
    const hashes = (body.certificate_hashes ?? []).map(({ algorithm, value }) => ({
      algorithm,
      value: Uint8Array.from(atob(value), (c) => c.charCodeAt(0)),
    }));
    return typeof body.url === 'string' ? { url: body.url, hashes } : null;
  } catch {
    return null;
  }
}

/** A WebTransport link; make one with `WtLink.connect`. */
export class WtLink {
  /**
   * Opens a session at `offer` and waits for the node's control stream,
   * for at most `timeoutMs`; rejects when it fails or takes longer (the
   * caller then falls back to the WebSocket).
   */
  static async connect(offer, token, timeoutMs, handlers) {
    const url = new URL(offer.url);
    url.searchParams.set('token', token);
    const options = offer.hashes.length ? { serverCertificateHashes: offer.hashes } : {};
    const wt = new WebTransport(url.href, options);
    const timer = new Promise((_, reject) => setTimeout(() => reject(new Error('WebTransport timed out')), timeoutMs));
    try {
      const stream = await Promise.race([
        wt.ready.then(async () => {
          const { value, done } = await wt.incomingBidirectionalStreams.getReader().read();
          if (done) throw new Error('no control stream');
          return value;
        }),
        timer,
      ]);
      return new WtLink(wt, stream, handlers);
    } catch (err) {
      try {
        wt.close();
      } catch {
        // Already failed.
      }
      throw err;
    }
  }

  constructor(wt, stream, { onMessage, onClose }) {
    this.kind = 'webtransport';
    this.wt = wt;
    this.writer = stream.writable.getWriter();
    this.datagrams = wt.datagrams.writable.getWriter();
    this.onMessage = onMessage;
    this.onClose = onClose;
    this.open = true;
    this.closeFrom = null;
    this.stream = stream;
  }

  /** Starts reading, once the caller holds the link (welcome comes at once). */
  start() {
    this.readStream(this.stream.readable.getReader());
    this.readDatagrams(this.wt.datagrams.readable.getReader());
    this.wt.closed.then(
      () => this.ended(),
      () => this.ended(),
    );
  }

  get isOpen() {
    return this.open;
  }

  /** Sends a message: as a datagram when `unreliable` and it fits, else on the stream. */
  send(bytes, unreliable = false) {
    if (!this.open) return;
    const max = this.wt.datagrams.maxDatagramSize ?? 0;
    const out = unreliable && bytes.length <= max ? this.datagrams : this.writer;
    const payload = out === this.writer ? record(RECORD_MESSAGE, bytes) : bytes;
    out.write(payload).catch(() => {});
  }

  /**
   * Closes without calling back: the close record, then the session once
   * the node's answering close record has come (or after a second), so a
   * lost packet cannot let the session's end overtake the record and turn
   * a quit into a drop.
   */
  close(code, reason) {
    this.onClose = null;
    if (!this.open) return;
    this.open = false;
    const end = () => {
      clearTimeout(this.closeTimer);
      try {
        this.wt.close({ closeCode: code, reason });
      } catch {
        // Already closed.
      }
    };
    this.answered = end;
    this.closeTimer = setTimeout(end, 1000);
    this.writer.write(closeRecord(code, reason)).catch(end);
  }

  async readStream(reader) {
    const records = new RecordReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        records.push(value);
        for (let r = records.next(); r; r = records.next()) {
          if (r.kind === RECORD_CLOSE) {
            this.closeFrom = { code: r.code, reason: r.reason };
            this.ended();
            return;
          }
          if (this.open) this.onMessage(r.payload);
        }
      }
    } catch {
      // The session failed, or the stream broke: ended() says so.
    }
    this.ended();
  }

  async readDatagrams(reader) {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        if (this.open) this.onMessage(value);
      }
    } catch {
      // Ends with the session.
    }
  }

  /** Calls back once, with the node's close record if one came (else 1006). */
  ended() {
    if (this.answered) {
      // Our close, answered (or the session gone): end it now.
      this.answered();
      return;
    }
    const onClose = this.onClose;
    this.onClose = null;
    this.open = false;
    try {
      this.wt.close();
    } catch {
      // Already closed.
    }
    const { code, reason } = this.closeFrom ?? { code: 1006, reason: '' };
    onClose?.(code, reason, true);
  }
}
