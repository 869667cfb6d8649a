// Keyboard and mouse state, sampled once per tick into the protocol's input.
//
// Listeners only record what is held; the tick timer reads it. That keeps the
// number of messages independent of how fast keys or the mouse change (the
// node rate-limits each connection).

// Physical key codes, so WASD sits in the same place on AZERTY or Dvorak.
const KEYS = {
  KeyW: 'up',
  ArrowUp: 'up',
  KeyS: 'down',
  ArrowDown: 'down',
  KeyA: 'left',
  ArrowLeft: 'left',
  KeyD: 'right',
  ArrowRight: 'right',
};

export class Controls {
  /**
   * @param {HTMLCanvasElement} canvas the game surface (mouse coordinates are
   *   relative to it)
   * @param {() => boolean} active whether the game wants input right now; keys
   *   typed into the login form must not move anyone
   */
  constructor(canvas, active) {
    this.canvas = canvas;
    this.active = active;
    this.held = { up: false, down: false, left: false, right: false };
    this.firing = false;
    // Cursor in CSS pixels relative to the canvas; null until the mouse moves.
    this.cursor = null;
    this.lastAim = 0;
    // Called when a move key goes down or up (not on key repeat), so the
    // game can send and predict on that frame instead of the next tick.
    this.onChange = null;

    window.addEventListener('keydown', (e) => this.onKey(e, true));
    window.addEventListener('keyup', (e) => this.onKey(e, false));
    canvas.addEventListener('mousemove', (e) => this.onMouse(e));
    canvas.addEventListener('mousedown', (e) => {
      this.onMouse(e);
      if (e.button === 0 && this.active()) {
        this.firing = true;
        e.preventDefault();
      }
    });
    // Released anywhere, even outside the canvas, stops firing.
    window.addEventListener('mouseup', (e) => {
      if (e.button === 0) this.firing = false;
    });
    canvas.addEventListener('contextmenu', (e) => e.preventDefault());
    // The node keeps applying the last input until a new one arrives, so a
    // key held while the window loses focus would keep the player running.
    window.addEventListener('blur', () => this.release());
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) this.release();
    });
  }

  release() {
    for (const k of Object.keys(this.held)) this.held[k] = false;
    this.firing = false;
  }

  onKey(e, down) {
    const dir = KEYS[e.code];
    if (!dir) return;
    if (!this.active()) {
      if (!down) this.held[dir] = false;
      return;
    }
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement) return;
    const changed = this.held[dir] !== down;
    this.held[dir] = down;
    // Arrow keys would otherwise scroll the page.
    e.preventDefault();
    if (changed) this.onChange?.();
  }

  onMouse(e) {
    const rect = this.canvas.getBoundingClientRect();
    this.cursor = { x: e.clientX - rect.left, y: e.clientY - rect.top };
  }

  /**
   * This tick's controls. `origin` is the own player's position on screen (CSS
   * pixels), because aim is the direction from the player to the cursor, not
   * from the screen centre.
   */
  sample(origin) {
    const h = this.held;
    let moveX = (h.right ? 1 : 0) - (h.left ? 1 : 0);
    let moveY = (h.down ? 1 : 0) - (h.up ? 1 : 0);
    if (moveX && moveY) {
      // The node would scale a long diagonal down too; doing it here keeps
      // what we send (and may later predict with) equal to what it applies.
      moveX *= Math.SQRT1_2;
      moveY *= Math.SQRT1_2;
    }
    if (origin && this.cursor) {
      const dx = this.cursor.x - origin.x;
      const dy = this.cursor.y - origin.y;
      // Keep the previous aim when the cursor sits on the player itself.
      if (dx * dx + dy * dy > 4) this.lastAim = Math.atan2(dy, dx);
    }
    return { moveX, moveY, aim: this.lastAim, fire: this.firing && this.active() };
  }
}
