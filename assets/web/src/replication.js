// Snapshot decoding every game shares (PROTOCOL.md section 5, "Snapshots";
// shared/src/replication in Rust, checked against it by the vectors in
// test/vectors/replication.json).
//
// `joined` carries the game's schema: its kinds of entity, each with fields
// and how each is quantised. A snapshot's data is a bit stream: operations
// on entities in key order (kind in the top 8 bits of a key, id in the low
// 24), then the events. A delta applies to the state of the tick it names
// (one this client acknowledged), so the replica keeps recent states.

/** States kept as baselines: more than the node keeps (32). */
const KEPT = 64;

const END = 0;
const APPEAR = 1;
const UPDATE = 2;
const REMOVE = 3;
const KEY_GROUP = 4;
const KIND_GROUP = 2;
const DIFF_FROM_BITS = 8;
const ID_SPACE = 2 ** 24;

/** Reads `[name, [[field, quant], ...]]` kinds into decoders' terms. */
export function parseSchema(raw) {
  const [kinds] = raw;
  return kinds.map(([name, fields]) => ({
    name,
    fields: fields.map(([fieldName, quant]) => ({ name: fieldName, ...parseQuant(quant) })),
  }));
}

function parseQuant([q, a, b, c]) {
  switch (q) {
    case 'uint':
      return { quant: 'uint', bits: a, read: (v) => v };
    case 'angle':
      return { quant: 'angle', bits: a, read: (v) => (v / 2 ** a) * 2 * Math.PI };
    case 'fixed': {
      const [min, max, step] = [a, b, c];
      // Math.fround: the node works these out in f32.
      const steps = Math.max(1, Math.ceil(Math.fround(Math.fround(max - min) / step)));
      const bits = Math.max(1, 32 - Math.clz32(steps));
      return { quant: 'fixed', bits, read: (v) => min + v * step };
    }
    default:
      throw new Error(`unknown quantisation ${q}`);
  }
}

class BitReader {
  constructor(bytes) {
    this.bytes = bytes;
    this.pos = 0;
  }

  read(bits) {
    if (this.pos + bits > this.bytes.length * 8) throw new Error('the snapshot ended early');
    let value = 0;
    let got = 0;
    while (got < bits) {
      const byte = this.bytes[this.pos >> 3];
      const offset = this.pos & 7;
      const take = Math.min(8 - offset, bits - got);
      const chunk = (byte >> offset) & ((1 << take) - 1);
      value += chunk * 2 ** got;
      got += take;
      this.pos += take;
    }
    return value;
  }

  flag() {
    return this.read(1) === 1;
  }

  varint(group) {
    let value = 0;
    let shift = 0;
    for (;;) {
      value += this.read(group) * 2 ** shift;
      shift += group;
      if (!this.flag()) return value;
      if (shift >= 32) throw new Error('a varint too long');
    }
  }
}

/** A small change: zigzag-coded, added to the baseline modulo 2^bits. */
function readChange(r, old, bits) {
  if (bits < DIFF_FROM_BITS) return r.read(bits);
  if (!r.flag()) return r.read(bits);
  const z = r.read((bits >> 1) + 1);
  const diff = z & 1 ? -((z + 1) / 2) : z / 2;
  const m = 2 ** bits;
  return (((old + diff) % m) + m) % m;
}

/**
 * An update's change mask: none for a kind of one field; a 1 bit for the
 * previous update's (`last`, `[kind, mask]`) when of the same kind; else a 0
 * bit and the mask.
 */
function readMask(r, kindId, fields, last) {
  if (fields <= 1) return 1;
  if (!r.flag()) return r.read(fields);
  if (!last || last[0] !== kindId) throw new Error('the snapshot does not fit its baseline');
  return last[1];
}

/**
 * Applies snapshot data to `base` (a Map of key → fields, unchanged), giving
 * the new state and the snapshot's events `[seq, kind, fields]`.
 */
export function applyDelta(schema, base, data) {
  const r = new BitReader(data);
  const state = new Map(base);
  let [kindId, id] = [0, 0];
  let first = true;
  // The previous update's kind and change mask, which the next may repeat.
  let last = null;
  for (;;) {
    const code = r.read(2);
    if (code === END) break;
    // The key: the same kind and an id gap, or a kind gap and an id.
    if (r.flag()) {
      const gap = r.varint(KEY_GROUP);
      if (gap === 0 && !first) throw new Error('entities out of order');
      id += gap;
    } else {
      const gap = r.varint(KIND_GROUP);
      if (gap === 0) throw new Error('entities out of order');
      kindId += gap;
      id = r.varint(KEY_GROUP);
    }
    first = false;
    if (id >= ID_SPACE) throw new Error('an id out of range');
    const key = kindId * ID_SPACE + id;
    const kind = schema[kindId];
    if (!kind) throw new Error('an entity of unknown kind');
    const had = state.get(key);
    if (code === APPEAR && !had) {
      state.set(
        key,
        kind.fields.map((f) => r.read(f.bits)),
      );
    } else if (code === UPDATE && had) {
      const mask = readMask(r, kindId, kind.fields.length, last);
      last = [kindId, mask];
      state.set(
        key,
        had.map((v, i) => (mask & (1 << i) ? readChange(r, v, kind.fields[i].bits) : v)),
      );
    } else if (code === REMOVE && had) {
      state.delete(key);
    } else {
      throw new Error('the snapshot does not fit its baseline');
    }
  }
  const events = [];
  let seq = 0;
  while (r.flag()) {
    seq = (seq + r.varint(KEY_GROUP)) % 2 ** 32;
    const kindId = r.read(8);
    const kind = schema[kindId];
    if (!kind) throw new Error('an event of unknown kind');
    events.push([seq, kindId, kind.fields.map((f) => r.read(f.bits))]);
  }
  return { state, events };
}

/** One match's state as this client decoded it. */
/** A snapshot overtaken by a newer one on the way; it is dropped. */
export class StaleSnapshot extends Error {
  constructor(tick) {
    super(`tick ${tick} is not newer than the last decoded`);
    this.tick = tick;
  }
}

export class Replica {
  constructor(schema) {
    this.schema = schema;
    /** `[tick, state]`, oldest first. */
    this.states = [];
    this.lastEvent = null;
  }

  /**
   * Applies one snapshot; returns its state (a Map of key → fields) and
   * the events not seen before.
   */
  apply(tick, base, data) {
    // Overtaken on the way (WebTransport datagrams may arrive out of
    // order): a snapshot not newer than the last decoded is dropped.
    if (this.states.length && tick <= this.ack()) throw new StaleSnapshot(tick);
    let start = new Map();
    if (base !== null && base !== undefined) {
      const found = this.states.find(([t]) => t === base);
      if (!found) throw new Error(`a delta against tick ${base}, which this client does not have`);
      start = found[1];
    }
    const { state, events } = applyDelta(this.schema, start, data);
    const last = this.lastEvent;
    const fresh = events.filter(([seq]) => last === null || seq > last);
    if (fresh.length) this.lastEvent = fresh[fresh.length - 1][0];
    this.states.push([tick, state]);
    if (this.states.length > KEPT) this.states.shift();
    return { state, events: fresh };
  }

  /** The tick to acknowledge in inputs: the newest decoded, 0 for none. */
  ack() {
    return this.states.length ? this.states[this.states.length - 1][0] : 0;
  }

  /** The entities of kind `name` as `{ id, ...fields }`, values read back. */
  entities(state, name) {
    const kind = this.schema.findIndex((k) => k.name === name);
    if (kind < 0) return [];
    const fields = this.schema[kind].fields;
    const out = [];
    for (const [key, values] of state) {
      if (Math.floor(key / 2 ** 24) !== kind) continue;
      const e = { id: key % 2 ** 24 };
      fields.forEach((f, i) => {
        e[f.name] = f.read(values[i]);
      });
      out.push(e);
    }
    return out.sort((a, b) => a.id - b.id);
  }

  /** Events as `{ type, ...fields }`. */
  namedEvents(events) {
    return events.map(([, kind, values]) => {
      const k = this.schema[kind];
      const e = { type: k.name };
      k.fields.forEach((f, i) => {
        e[f.name] = f.read(values[i]);
      });
      return e;
    });
  }
}
