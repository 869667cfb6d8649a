// Everything drawn with the DOM instead of the canvas: screens (login,
// lobby, results), the reconnect overlay, toasts and the in-game HUD.
//
// The HUD is DOM rather than canvas text because it changes rarely compared
// with the frame rate, stays sharp, and is selectable by tests. Every write
// goes through setText, which skips unchanged values, so updating the HUD
// every frame costs almost nothing.

const $ = (id) => document.getElementById(id);

const SCREENS = ['login', 'status', 'results'];
const TOAST_MS = 4000;

const REASONS = {
  time_up: "Time's up",
  kill_limit: 'Kill limit reached',
  abandoned: 'Match abandoned',
};

function setText(el, text) {
  const s = String(text);
  if (el.textContent !== s) el.textContent = s;
}

function show(el, visible) {
  if (el.hidden === visible) el.hidden = !visible;
}

export class Ui {
  constructor() {
    this.el = {
      login: $('login'),
      loginForm: $('login-form'),
      name: $('name'),
      play: $('play'),
      loginError: $('login-error'),
      status: $('status'),
      statusText: $('status-text'),
      statusSpinner: $('status-spinner'),
            statusPlay: $('status-play'),
      statusQueue: $('status-queue'),
      statusCancel: $('status-cancel'),
      queue: $('queue'),
      queueAgain: $('queue-again'),
      results: $('results'),
      resultsReason: $('results-reason'),
      resultsBody: $('results-body'),
      resultsHead: $('results-head'),
      resultsRating: $('results-rating'),
      playAgain: $('play-again'),
      reconnecting: $('reconnecting'),
      reconnectingDetail: $('reconnecting-detail'),
      giveUp: $('give-up'),
      hud: $('hud'),
      health: $('hud-health'),
      healthFill: $('hud-health-fill'),
      score: $('hud-score'),
      kills: $('hud-kills'),
      deaths: $('hud-deaths'),
      time: $('hud-time'),
      ping: $('hud-ping'),
      transport: $('hud-transport'),
      tick: $('hud-tick'),
      players: $('hud-players'),
      killfeed: $('killfeed'),
      leave: $('leave'),
      toasts: $('toasts'),
    };
    this.recentToasts = new Map();
    this.killfeedKey = '';
  }

  /** Wires the buttons to the given actions. */
    bind({ login, playAgain, findMatch, cancelQueue, leave, giveUp }) {
    const { el } = this;
    el.loginForm.addEventListener('submit', (e) => {
      e.preventDefault();
      login(el.name.value, 'quick');
    });
    el.queue.addEventListener('click', () => login(el.name.value, this.selectedMode()));
    // The mode pickers (login and results screens) show one choice.
    for (const select of document.querySelectorAll('select.mode')) {
      select.addEventListener('change', () => {
        for (const other of document.querySelectorAll('select.mode')) other.value = select.value;
      });
    }
    el.playAgain.addEventListener('click', playAgain);
    el.statusPlay.addEventListener('click', playAgain);
    el.queueAgain.addEventListener('click', findMatch);
    el.statusQueue.addEventListener('click', findMatch);
    el.statusCancel.addEventListener('click', cancelQueue);
    el.leave.addEventListener('click', leave);
    el.giveUp.addEventListener('click', giveUp);
  }

    setLoginBusy(busy) {
    this.el.play.disabled = busy;
    this.el.queue.disabled = busy;
    this.el.name.disabled = busy;
  }

  loginError(message) {
    setText(this.el.loginError, message ?? '');
  }

  /** Shows the screen that belongs to `game.phase`. */
  showPhase(game) {
    const { el } = this;
    const phase = game.phase;
    const screen =
      phase === 'login'
        ? 'login'
        : phase === 'connecting' || phase === 'lobby'
          ? 'status'
          : phase === 'results'
            ? 'results'
            : null;
    for (const s of SCREENS) show(el[s], s === screen);
    show(el.hud, phase === 'playing');
    show(el.reconnecting, phase === 'reconnecting');
    if (phase === 'connecting') {
      setText(el.statusText, 'Connecting…');
      show(el.statusPlay, false);
      show(el.statusSpinner, true);
        } else if (phase === 'lobby') {
      const q = game.queue;
      const text = q
        ? `Searching for a ${q.mode} match… ${Math.round(q.waitedMs / 1000)} s · ${q.searching} searching`
        : game.wantPlay
          ? 'Finding a match…'
          : `In the lobby as ${game.name}`;
      setText(el.statusText, text);
      show(el.statusPlay, !game.wantPlay);
      show(el.statusQueue, !game.wantPlay);
      show(el.statusCancel, Boolean(q));
      show(el.statusSpinner, game.wantPlay);
    }
    if (phase === 'results') this.renderResults(game);
    if (phase === 'login') {
      this.setLoginBusy(false);
      el.name.focus();
    }
  }

  reconnecting({ attempt, delayMs }) {
    setText(this.el.reconnectingDetail, `Attempt ${attempt}, retrying in ${(delayMs / 1000).toFixed(1)} s`);
  }

  /** The mode "Find match" queues for, as chosen on the screen. */
  selectedMode() {
    return document.querySelector('select.mode')?.value || 'ffa';
  }

  renderResults(game) {
    const { el } = this;
    setText(el.resultsReason, REASONS[game.endReason] ?? game.endReason ?? '');
    // Each game reports its own stats.
    const hill = game.game === 'hill';
    const head = hill ? ['#', 'Player', 'Team', 'Hill s', 'Shoves'] : ['#', 'Player', 'Kills', 'Deaths', 'Score'];
    const row = document.createElement('tr');
    for (const h of head) {
      const th = document.createElement('th');
      th.textContent = h;
      row.append(th);
    }
    el.resultsHead.replaceChildren(row);
    el.resultsBody.replaceChildren(
      ...(game.results ?? []).map((r) => {
        const tr = document.createElement('tr');
        if (r.id === game.you) tr.className = 'me';
        const cells = hill
          ? [r.placement, r.name, ['Red', 'Blue'][r.team] ?? '–', r.stats.hill_s ?? 0, r.stats.shoves ?? 0]
          : [r.placement, r.name, r.kills, r.deaths, r.score];
        for (const v of cells) {
          const td = document.createElement('td');
          td.textContent = String(v);
          tr.append(td);
        }
        return tr;
      }),
    );
    this.renderRating(game);
  }

  renderRating(game) {
    const r = game.rating;
    show(this.el.resultsRating, Boolean(r));
    if (r) setText(this.el.resultsRating, `Rating ${r.rating} (${r.delta >= 0 ? '+' : ''}${r.delta})`);
  }

  /** Per-frame HUD refresh while playing. */
  updateHud(game) {
    const { el } = this;
    const me = game.me;
    // A game without health (the hill) shows a full bar.
    const max = game.rules?.maxHealth || 100;
    const health = game.rules?.maxHealth ? (me?.health ?? 0) : max;
    setText(el.health, health);
    const width = `${Math.round((100 * health) / max)}%`;
    if (el.healthFill.style.width !== width) el.healthFill.style.width = width;
    el.healthFill.classList.toggle('low', health <= max * 0.25);
    if (game.game === 'hill') {
      // Team scores in seconds held: red – blue.
      const s = game.latest?.scores ?? [0, 0];
      setText(el.score, `${Math.floor(s[0] / game.tickRate)}–${Math.floor(s[1] / game.tickRate)}`);
    } else {
      setText(el.score, me?.score ?? 0);
    }
    setText(el.kills, me?.kills ?? 0);
    setText(el.deaths, me?.deaths ?? 0);
    setText(el.time, formatClock(game.ticksLeft / game.tickRate));
    setText(el.ping, game.rtt === null ? '–' : `${Math.round(game.rtt)} ms`);
    setText(el.transport, { webtransport: 'WT', websocket: 'WS' }[game.transport] ?? '–');
    setText(el.tick, game.tick);
    const count = game.latest?.players.length ?? game.roster.size;
    setText(el.players, game.rules?.maxPlayers ? `${count}/${game.rules.maxPlayers}` : count);
    this.updateKillfeed(game);
  }

  updateKillfeed(game) {
    const key = game.killFeed.map((k) => `${k.at}:${k.killer}:${k.victim}`).join('|');
    if (key === this.killfeedKey) return;
    this.killfeedKey = key;
    this.el.killfeed.replaceChildren(
      ...game.killFeed.map((k) => {
        const li = document.createElement('li');
        const killer = document.createElement('span');
        killer.textContent = game.nameOf(k.killer);
        if (k.killer === game.you) killer.className = 'me';
        const victim = document.createElement('span');
        victim.textContent = game.nameOf(k.victim);
        if (k.victim === game.you) victim.className = 'me';
        li.append(killer, ' ➜ ', victim);
        return li;
      }),
    );
  }

    /** A party invitation with an Accept button, for a while. */
  invite({ name }, accept) {
    const div = document.createElement('div');
    div.className = 'toast info';
    div.append(`${name} invites you to their party `);
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'small';
    button.textContent = 'Accept';
    button.addEventListener('click', () => {
      accept();
      div.remove();
    });
    div.append(button);
    this.el.toasts.append(div);
    setTimeout(() => div.remove(), 15_000);
  }

  /** A short non-blocking message; repeats of the same text are merged. */
  toast(message, kind = 'info') {
    const now = performance.now();
    const last = this.recentToasts.get(message);
    if (last && now - last < TOAST_MS) return;
    this.recentToasts.set(message, now);
    const div = document.createElement('div');
    div.className = `toast ${kind}`;
    div.textContent = message;
    this.el.toasts.append(div);
    setTimeout(() => {
      div.remove();
      this.recentToasts.delete(message);
    }, TOAST_MS);
  }
}

function formatClock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
