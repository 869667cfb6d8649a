// The lobby panel: chat rooms shared by every node, who is in them, and who
// is typing. Everything written to the page from other players goes through
// textContent, never innerHTML.
//
// Room state lives in `rooms` (a Map), kept by pure functions that the unit
// tests exercise without a DOM: lines from a room's history and lines that
// arrived live around the join are merged and deduplicated by id.

import * as proto from './protocol.js';

const TYPING_SHOW_MS = 3000;
const TYPING_SEND_MS = 2000;
const MAX_LINES = 200;
const ROOM_RE = /^[a-z0-9_-]{1,24}$/;

/** Orders chat line ids ("<ms>-<seq>") numerically. */
export function compareIds(a, b) {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am - bm || as - bs;
}

/** Merges lines into a room's log: no id twice, oldest first, capped. */
export function mergeLines(existing, incoming) {
  const byId = new Map(existing.map((l) => [l.id, l]));
  for (const line of incoming) byId.set(line.id, line);
  const lines = [...byId.values()].sort((a, b) => compareIds(a.id, b.id));
  return lines.slice(Math.max(0, lines.length - MAX_LINES));
}

/** A fresh room: joined once `room_joined` arrives. */
export function emptyRoom() {
  return { joined: false, members: new Map(), count: 0, lines: [], typing: new Map() };
}

/** Applies one lobby message to the rooms; returns the room it touched. */
export function applyLobby(rooms, msg, now = Date.now()) {
  const room = msg.room;
  if (!room) return null;
  let r = rooms.get(room);
  if (msg.type === 'room_left') {
    rooms.delete(room);
    return room;
  }
  if (!r) {
    // Live events may come just before room_joined: keep them.
    r = emptyRoom();
    rooms.set(room, r);
  }
  switch (msg.type) {
    case 'room_joined':
      r.joined = true;
      r.members = new Map(msg.members.map((m) => [m.playerId, m.name]));
      r.count = r.members.size;
      r.lines = mergeLines(r.lines, msg.history);
      break;
    case 'chat':
      r.lines = mergeLines(r.lines, [msg]);
      r.typing.delete(msg.playerId);
      break;
    case 'presence':
      if (msg.joined) r.members.set(msg.playerId, msg.name);
      else r.members.delete(msg.playerId);
      r.count = msg.count;
      break;
    case 'typing':
      r.typing.set(msg.playerId, { name: msg.name, until: now + TYPING_SHOW_MS });
      break;
    default:
      return null;
  }
  return room;
}

export class LobbyPanel {
  /**
   * @param send (message) => void, sends a client message
   * @param isTyping () => boolean, whether the chat input has the keyboard
   */
  constructor({ send, toast }) {
    this.send = send;
    this.toast = toast;
    this.rooms = new Map();
    this.current = 'global';
    this.lastTypingSent = 0;
    this.el = {
      panel: document.getElementById('lobby'),
      tabs: document.getElementById('lobby-tabs'),
      log: document.getElementById('chat-log'),
      members: document.getElementById('lobby-members'),
      count: document.getElementById('lobby-count'),
      typing: document.getElementById('lobby-typing'),
      form: document.getElementById('chat-form'),
      input: document.getElementById('chat-input'),
      roomForm: document.getElementById('room-form'),
      roomInput: document.getElementById('room-input'),
      toggle: document.getElementById('lobby-toggle'),
    };
    this.el.form.addEventListener('submit', (e) => {
      e.preventDefault();
      const text = this.el.input.value.trim();
      if (!text) return;
      this.send(proto.chat(this.current, text));
      this.el.input.value = '';
    });
    this.el.input.addEventListener('input', () => {
      const now = Date.now();
      if (now - this.lastTypingSent >= TYPING_SEND_MS && this.el.input.value) {
        this.lastTypingSent = now;
        this.send(proto.typing(this.current));
      }
    });
    // Keys typed into the chat are not game controls.
    for (const input of [this.el.input, this.el.roomInput]) {
      input.addEventListener('keydown', (e) => {
        e.stopPropagation();
        if (e.key === 'Escape') input.blur();
      });
      input.addEventListener('keyup', (e) => e.stopPropagation());
    }
    this.el.roomForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const room = this.el.roomInput.value.trim().toLowerCase();
      if (!ROOM_RE.test(room)) {
        this.toast('Room names are 1–24 of a–z, 0–9, _ and -.', 'error');
        return;
      }
      this.el.roomInput.value = '';
      this.join(room);
      this.current = room;
      this.render();
    });
    this.el.toggle.addEventListener('click', () => this.el.panel.classList.toggle('collapsed'));
    setInterval(() => this.renderTyping(), 500);
  }

  /** Joins a room (again, after a reconnect: the node forgot us). */
  join(room) {
    if (!this.rooms.has(room)) this.rooms.set(room, emptyRoom());
    this.send(proto.joinRoom(room));
  }

  /** After every welcome: back into the rooms we were in. */
  rejoin() {
    if (this.rooms.size === 0) this.rooms.set('global', emptyRoom());
    for (const [room, r] of this.rooms) {
      r.joined = false;
      this.send(proto.joinRoom(room));
    }
  }

  leave(room) {
    if (room === 'global') return;
    this.send(proto.leaveRoom(room));
    this.rooms.delete(room);
    if (this.current === room) this.current = 'global';
    this.render();
  }

  /** Handles a lobby message; returns whether it was one. */
  apply(msg) {
    const room = applyLobby(this.rooms, msg);
    if (room === null) return false;
    if (!this.rooms.has(this.current)) this.current = 'global';
    this.render();
    return true;
  }

  render() {
    const { el } = this;
    el.tabs.replaceChildren(
      ...[...this.rooms.keys()].map((room) => {
        const tab = document.createElement('button');
        tab.type = 'button';
        tab.className = room === this.current ? 'tab active' : 'tab';
        tab.textContent = `#${room}`;
        tab.addEventListener('click', () => {
          this.current = room;
          this.render();
        });
        if (room !== 'global') {
          const close = document.createElement('span');
          close.className = 'close';
          close.textContent = '×';
          close.title = `Leave #${room}`;
          close.addEventListener('click', (e) => {
            e.stopPropagation();
            this.leave(room);
          });
          tab.append(close);
        }
        return tab;
      }),
    );
    const r = this.rooms.get(this.current);
    const atBottom = el.log.scrollHeight - el.log.scrollTop - el.log.clientHeight < 8;
    el.log.replaceChildren(
      ...(r?.lines ?? []).map((line) => {
        const li = document.createElement('li');
        const time = document.createElement('time');
        time.textContent = new Date(line.sentAtMs).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
        const who = document.createElement('b');
        who.textContent = line.name;
        const text = document.createElement('span');
        text.textContent = line.text;
        li.append(time, ' ', who, ' ', text);
        return li;
      }),
    );
    if (atBottom) el.log.scrollTop = el.log.scrollHeight;
    el.count.textContent = r ? `${r.count} online` : '';
    el.members.replaceChildren(
      ...[...(r?.members.values() ?? [])].sort().map((name) => {
        const li = document.createElement('li');
        li.textContent = name;
        return li;
      }),
    );
    this.renderTyping();
  }

  renderTyping() {
    const r = this.rooms.get(this.current);
    const now = Date.now();
    const names = [];
    for (const [id, t] of r?.typing ?? []) {
      if (t.until > now) names.push(t.name);
      else r.typing.delete(id);
    }
    const text = names.length === 0 ? '' : `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} typing…`;
    if (this.el.typing.textContent !== text) this.el.typing.textContent = text;
  }

  /** For the test hook: rooms as plain data. */
  snapshot() {
    const out = {};
    for (const [room, r] of this.rooms) {
      out[room] = {
        joined: r.joined,
        count: r.count,
        members: [...r.members.values()],
        lines: r.lines.map(({ id, name, text }) => ({ id, name, text })),
        typing: [...r.typing.values()].filter((t) => t.until > Date.now()).map((t) => t.name),
      };
    }
    return out;
  }
}
