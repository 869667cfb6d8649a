// Canvas drawing: the arena, everyone in it and a minimap.
//
// World geometry is drawn under a world→screen transform; text and bars are
// drawn in screen pixels afterwards so they stay crisp and readable at any
// zoom. Nothing here mutates game state.

// How many arena units fit across the shorter side of the window: close
// enough to see players clearly, far enough to see who is shooting at you.
const VIEW_UNITS = 1100;
// How far the camera may look past the arena edge, so a player at a wall is
// not pinned to the screen border but the view is not mostly void either.
const EDGE_MARGIN = 160;
const GRID = 100;
const MINIMAP_SIZE = 170;

const COLORS = {
  void: '#0b0e14',
  floor: '#151b26',
  grid: 'rgba(255,255,255,0.035)',
  wall: '#3b4658',
  wallEdge: '#56647a',
  border: '#6b7a93',
  me: '#3ddcff',
  shot: '#ffe066',
  pack: '#4ade80',
  text: '#e6edf7',
  healthBack: 'rgba(0,0,0,0.55)',
};
// Opponents get stable colours by id, none of them close to the own cyan.
const PALETTE = ['#ff6b6b', '#ffa94d', '#f783ac', '#b197fc', '#ffd43b', '#69db7c', '#ff8787', '#e599f7'];

// The hill's two teams.
const TEAM_COLORS = ['#ff6b6b', '#4dabf7'];
const TEAM_TINTS = ['rgba(255,107,107,0.22)', 'rgba(77,171,247,0.22)'];

/** A player's colour: their team's in a team game, else stable by id. */
function playerColor(p) {
  return p.team === undefined || p.team === null ? colorOf(p.id) : TEAM_COLORS[p.team % TEAM_COLORS.length];
}

export function colorOf(id) {
  return PALETTE[id % PALETTE.length];
}

export class Renderer {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { alpha: false });
    this.width = 0;
    this.height = 0;
    this.dpr = 1;
    this.camera = { x: 0, y: 0, scale: 1 };
    this.resize();
    window.addEventListener('resize', () => this.resize());
  }

  resize() {
    this.dpr = Math.min(window.devicePixelRatio || 1, 2);
    this.width = window.innerWidth;
    this.height = window.innerHeight;
    this.canvas.width = Math.round(this.width * this.dpr);
    this.canvas.height = Math.round(this.height * this.dpr);
    this.canvas.style.width = `${this.width}px`;
    this.canvas.style.height = `${this.height}px`;
  }

  /** Arena → CSS pixel coordinates under the current camera. */
  worldToScreen(x, y) {
    const c = this.camera;
    return { x: (x - c.x) * c.scale + this.width / 2, y: (y - c.y) * c.scale + this.height / 2 };
  }

  /** Centres the camera on `focus`, kept from showing much beyond the arena. */
  updateCamera(map, focus) {
    const scale = Math.min(this.width, this.height) / VIEW_UNITS;
    const halfW = this.width / 2 / scale;
    const halfH = this.height / 2 / scale;
    const fit = (v, half, size) =>
      half * 2 >= size + 2 * EDGE_MARGIN
        ? size / 2
        : Math.max(half - EDGE_MARGIN, Math.min(size - half + EDGE_MARGIN, v));
    const fx = focus ? focus.x : map.width / 2;
    const fy = focus ? focus.y : map.height / 2;
    this.camera = { x: fit(fx, halfW, map.width), y: fit(fy, halfH, map.height), scale };
  }

  clear() {
    const { ctx } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = COLORS.void;
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
  }

  /**
   * Draws one frame.
   * @param {object} frame {map, rules, you, players: Map, projectiles, packs,
   *   me (own player to draw, or null), myAim, nameOf, hitFlash, now}
   */
  draw(frame) {
    const { map, me } = frame;
    this.updateCamera(map, me);
    this.clear();
    this.drawWorld(frame);
    this.drawLabels(frame);
    this.drawMinimap(frame);
    if (me && me.health === 0) this.banner('You were taken out — respawning…');
  }

  worldTransform() {
    const { camera: c, dpr } = this;
    const s = c.scale * dpr;
    this.ctx.setTransform(s, 0, 0, s, (this.width / 2 - c.x * c.scale) * dpr, (this.height / 2 - c.y * c.scale) * dpr);
  }

  screenTransform() {
    this.ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
  }

  drawWorld(frame) {
    const { ctx } = this;
    const { map, rules } = frame;
    const px = 1 / this.camera.scale; // one screen pixel in arena units
    this.worldTransform();

    ctx.fillStyle = COLORS.floor;
    ctx.fillRect(0, 0, map.width, map.height);
    ctx.beginPath();
    for (let x = GRID; x < map.width; x += GRID) {
      ctx.moveTo(x, 0);
      ctx.lineTo(x, map.height);
    }
    for (let y = GRID; y < map.height; y += GRID) {
      ctx.moveTo(0, y);
      ctx.lineTo(map.width, y);
    }
    ctx.strokeStyle = COLORS.grid;
    ctx.lineWidth = px;
    ctx.stroke();
    ctx.strokeStyle = COLORS.border;
    ctx.lineWidth = 3 * px;
    ctx.strokeRect(0, 0, map.width, map.height);

    for (const o of map.obstacles) {
      ctx.fillStyle = COLORS.wall;
      ctx.fillRect(o.x, o.y, o.w, o.h);
      ctx.strokeStyle = COLORS.wallEdge;
      ctx.lineWidth = 2 * px;
      ctx.strokeRect(o.x, o.y, o.w, o.h);
    }

    if (map.hill) drawHill(ctx, map.hill, frame.holder, px);
    map.healthPacks.forEach((p, i) => drawPack(ctx, p, rules.packRadius, frame.packs?.[i] ?? true, px));

    for (const s of frame.projectiles) {
      const r = Math.max(rules.projectileRadius, 2.5 * px);
      if (s.dx !== undefined) {
        // A short streak behind the shot shows its direction at a glance.
        ctx.strokeStyle = 'rgba(255,224,102,0.35)';
        ctx.lineWidth = r * 1.6;
        ctx.lineCap = 'round';
        ctx.beginPath();
        ctx.moveTo(s.x - s.dx * 0.8, s.y - s.dy * 0.8);
        ctx.lineTo(s.x, s.y);
        ctx.stroke();
      }
      ctx.fillStyle = COLORS.shot;
      ctx.beginPath();
      ctx.arc(s.x, s.y, r, 0, Math.PI * 2);
      ctx.fill();
    }

    for (const p of frame.players.values()) {
      if (p.id === frame.you) continue;
      drawPlayer(ctx, p, playerColor(p), rules, frame.hitFlash.has(p.id), false, px);
    }
    // The own player last, on top of anyone overlapping it.
    if (frame.me) {
      // In a team game the own body keeps its team's colour (the white rim
      // marks it); otherwise the own cyan.
      const color = frame.me.team === undefined || frame.me.team === null ? COLORS.me : playerColor(frame.me);
      drawPlayer(ctx, { ...frame.me, aim: frame.myAim ?? frame.me.aim }, color, rules, frame.hitFlash.has(frame.you), true, px);
    }
  }

  drawLabels(frame) {
    const { ctx } = this;
    const { rules } = frame;
    const r = rules.playerRadius * this.camera.scale;
    this.screenTransform();
    ctx.font = '600 12px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    const label = (p, isMe) => {
      if (p.health === 0) return;
      const s = this.worldToScreen(p.x, p.y);
      if (s.x < -60 || s.y < -60 || s.x > this.width + 60 || s.y > this.height + 60) return;
      const barW = 40;
      const barY = s.y - r - 9;
      if (!rules.maxHealth) {
        // A game without health (the hill): the name only.
        ctx.fillStyle = isMe ? COLORS.me : COLORS.text;
        ctx.fillText(frame.nameOf(p.id), s.x, barY + 3);
        return;
      }
      const frac = Math.max(0, Math.min(1, p.health / rules.maxHealth));
      ctx.fillStyle = COLORS.healthBack;
      ctx.fillRect(s.x - barW / 2 - 1, barY - 1, barW + 2, 6);
      ctx.fillStyle = frac > 0.5 ? '#4ade80' : frac > 0.25 ? '#facc15' : '#f87171';
      ctx.fillRect(s.x - barW / 2, barY, barW * frac, 4);
      ctx.fillStyle = isMe ? COLORS.me : COLORS.text;
      ctx.fillText(frame.nameOf(p.id), s.x, barY - 3);
    };
    for (const p of frame.players.values()) if (p.id !== frame.you) label(p, false);
    if (frame.me) label(frame.me, true);
  }

  drawMinimap(frame) {
    const { ctx } = this;
    const { map } = frame;
    const k = MINIMAP_SIZE / Math.max(map.width, map.height);
    const w = map.width * k;
    const h = map.height * k;
    const ox = this.width - w - 16;
    const oy = this.height - h - 16;
    this.screenTransform();
    ctx.fillStyle = COLORS.void;
    ctx.fillRect(ox - 4, oy - 4, w + 8, h + 8);
    ctx.fillStyle = COLORS.floor;
    ctx.fillRect(ox, oy, w, h);
    ctx.fillStyle = COLORS.wallEdge;
    for (const o of map.obstacles) ctx.fillRect(ox + o.x * k, oy + o.y * k, Math.max(1, o.w * k), Math.max(1, o.h * k));
    map.healthPacks.forEach((p, i) => {
      if (frame.packs?.[i] === false) return;
      ctx.fillStyle = COLORS.pack;
      ctx.fillRect(ox + p.x * k - 1.5, oy + p.y * k - 1.5, 3, 3);
    });
    const dot = (p, color, size) => {
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.arc(ox + p.x * k, oy + p.y * k, size, 0, Math.PI * 2);
      ctx.fill();
    };
    for (const p of frame.players.values()) if (p.id !== frame.you && p.health > 0) dot(p, colorOf(p.id), 2.5);
    if (frame.me) dot(frame.me, COLORS.me, 3.5);
    // The part of the arena on screen.
    const c = this.camera;
    const vw = this.width / c.scale;
    const vh = this.height / c.scale;
    ctx.strokeStyle = 'rgba(255,255,255,0.35)';
    ctx.lineWidth = 1;
    ctx.save();
    ctx.beginPath();
    ctx.rect(ox, oy, w, h);
    ctx.clip();
    ctx.strokeRect(ox + (c.x - vw / 2) * k, oy + (c.y - vh / 2) * k, vw * k, vh * k);
    ctx.restore();
    ctx.strokeStyle = COLORS.border;
    ctx.strokeRect(ox, oy, w, h);
  }

  banner(text) {
    const { ctx } = this;
    this.screenTransform();
    ctx.font = '600 20px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    const w = ctx.measureText(text).width + 40;
    const y = this.height * 0.3;
    ctx.fillStyle = 'rgba(0,0,0,0.6)';
    ctx.fillRect(this.width / 2 - w / 2, y - 20, w, 40);
    ctx.fillStyle = COLORS.text;
    ctx.fillText(text, this.width / 2, y);
  }
}

function drawPack(ctx, p, radius, available, px) {
  ctx.beginPath();
  ctx.arc(p.x, p.y, radius, 0, Math.PI * 2);
  if (!available) {
    // A faint ring where a taken pack will come back.
    ctx.strokeStyle = 'rgba(74,222,128,0.25)';
    ctx.lineWidth = 2 * px;
    ctx.setLineDash([4 * px, 4 * px]);
    ctx.stroke();
    ctx.setLineDash([]);
    return;
  }
  ctx.fillStyle = 'rgba(74,222,128,0.18)';
  ctx.fill();
  ctx.strokeStyle = COLORS.pack;
  ctx.lineWidth = 2 * px;
  ctx.stroke();
  const a = radius * 0.55;
  const t = radius * 0.2;
  ctx.fillStyle = COLORS.pack;
  ctx.fillRect(p.x - a, p.y - t, 2 * a, 2 * t);
  ctx.fillRect(p.x - t, p.y - a, 2 * t, 2 * a);
}

/** The hill: a ring, filled with the holding team's tint. */
function drawHill(ctx, hill, holder, px) {
  ctx.beginPath();
  ctx.arc(hill.x, hill.y, hill.r, 0, Math.PI * 2);
  ctx.fillStyle = holder === null || holder === undefined ? 'rgba(255,255,255,0.06)' : TEAM_TINTS[holder % TEAM_TINTS.length];
  ctx.fill();
  ctx.setLineDash([12 * px, 8 * px]);
  ctx.lineWidth = 3 * px;
  ctx.strokeStyle = holder === null || holder === undefined ? 'rgba(255,255,255,0.4)' : TEAM_COLORS[holder % TEAM_COLORS.length];
  ctx.stroke();
  ctx.setLineDash([]);
}

function drawPlayer(ctx, p, color, rules, flash, isMe, px) {
  const r = rules.playerRadius;
  if (p.health === 0) {
    // Dead players leave a faint cross until they respawn elsewhere.
    ctx.strokeStyle = 'rgba(255,255,255,0.25)';
    ctx.lineWidth = 3 * px;
    ctx.beginPath();
    ctx.moveTo(p.x - r * 0.5, p.y - r * 0.5);
    ctx.lineTo(p.x + r * 0.5, p.y + r * 0.5);
    ctx.moveTo(p.x + r * 0.5, p.y - r * 0.5);
    ctx.lineTo(p.x - r * 0.5, p.y + r * 0.5);
    ctx.stroke();
    return;
  }
  // Facing: a barrel from the centre past the rim (in a game that shoots).
  if (rules.projectileRadius > 0) {
    ctx.strokeStyle = isMe ? '#ffffff' : 'rgba(255,255,255,0.8)';
    ctx.lineWidth = 6 * Math.max(px, 0.9);
    ctx.lineCap = 'round';
    ctx.beginPath();
    ctx.moveTo(p.x, p.y);
    ctx.lineTo(p.x + Math.cos(p.aim) * (r + 12), p.y + Math.sin(p.aim) * (r + 12));
    ctx.stroke();
  }

  ctx.beginPath();
  ctx.arc(p.x, p.y, r, 0, Math.PI * 2);
  ctx.fillStyle = flash ? '#ffffff' : color;
  ctx.fill();
  ctx.lineWidth = (isMe ? 3 : 2) * px;
  ctx.strokeStyle = isMe ? '#ffffff' : 'rgba(0,0,0,0.5)';
  ctx.stroke();
  if (isMe) {
    // A soft halo so the own player is found instantly in a crowd.
    ctx.beginPath();
    ctx.arc(p.x, p.y, r + 6 * px + 3, 0, Math.PI * 2);
    ctx.strokeStyle = 'rgba(61,220,255,0.35)';
    ctx.lineWidth = 3 * px;
    ctx.stroke();
  }
}
