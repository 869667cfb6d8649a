// The arena's movement rules, exactly as the node runs them
// (games/arena/src/sim: `move_players` and `GameSpec::slide`), so the
// browser can move its own player the moment a key is pressed and land
// where the node will put it. Every operation is rounded to single
// precision (`Math.fround`), as Rust's f32 arithmetic rounds it, so the
// results are the node's to the bit; `test/movement.test.js` replays the
// vectors Rust writes (`test/vectors/movement.json`) to hold it there.
// PROTOCOL.md section 12 describes the same rules in words.

const f = Math.fround;

/** A move is cut into at most this many steps of half a radius. */
export const MAX_SLIDE_STEPS = 16;

/** Below this squared speed a player stops. */
const REST_SQ = f(1e-4);

const lengthSq = (x, y) => f(f(x * x) + f(y * y));

/** `[x, y]` shortened to at most `max` long. */
function clampLength(x, y, max) {
  const lenSq = lengthSq(x, y);
  if (lenSq > f(max * max)) {
    const s = f(max / f(Math.sqrt(lenSq)));
    return [f(x * s), f(y * s)];
  }
  return [x, y];
}

/** The wanted direction from a stick (each axis in -1..1), at most 1 long. */
export function moveDir(x, y) {
  const axis = (v) => f(Math.min(1, Math.max(-1, v)));
  return clampLength(axis(x), axis(y), 1);
}

/**
 * The push that takes a circle at `(x, y)` out of the rectangle
 * `[ox, oy, ow, oh]`, or null when it does not overlap it.
 */
function pushOut(x, y, radius, [ox, oy, ow, oh]) {
  const right = f(ox + ow);
  const bottom = f(oy + oh);
  const dx = f(x - Math.min(Math.max(x, ox), right));
  const dy = f(y - Math.min(Math.max(y, oy), bottom));
  const distSq = lengthSq(dx, dy);
  if (distSq >= f(radius * radius)) return null;
  if (distSq > 0) {
    const dist = f(Math.sqrt(distSq));
    const k = f(f(radius - dist) / dist);
    return [f(dx * k), f(dy * k)];
  }
  // The centre is inside: leave through the nearest face.
  const toLeft = f(x - ox);
  const toRight = f(right - x);
  const toTop = f(y - oy);
  const toBottom = f(bottom - y);
  const min = Math.min(toLeft, toRight, toTop, toBottom);
  if (min === toLeft) return [-f(toLeft + radius), 0];
  if (min === toRight) return [f(toRight + radius), 0];
  if (min === toTop) return [0, -f(toTop + radius)];
  return [0, f(toBottom + radius)];
}

/**
 * Moves a body by its velocity for one tick, sliding along obstacles and
 * the arena's edges; returns `[x, y, vx, vy]` with the velocity's parts
 * into a wall removed.
 */
function slide(x, y, vx, vy, radius, walls, dt) {
  const half = f(radius * 0.5);
  const [tx, ty] = clampLength(f(vx * dt), f(vy * dt), f(MAX_SLIDE_STEPS * half));
  const steps = Math.min(MAX_SLIDE_STEPS, Math.max(1, Math.ceil(f(f(Math.sqrt(lengthSq(tx, ty))) / half))));
  const share = f(1 / steps);
  const [sx, sy] = [f(tx * share), f(ty * share)];
  const maxX = f(walls.width - radius);
  const maxY = f(walls.height - radius);
  for (let i = 0; i < steps; i++) {
    x = f(x + sx);
    y = f(y + sy);
    for (const obstacle of walls.obstacles) {
      const push = pushOut(x, y, radius, obstacle);
      if (!push) continue;
      x = f(x + push[0]);
      y = f(y + push[1]);
      const inv = f(1 / f(Math.sqrt(lengthSq(push[0], push[1]))));
      const nx = f(push[0] * inv);
      const ny = f(push[1] * inv);
      const into = f(f(vx * nx) + f(vy * ny));
      if (into < 0) {
        vx = f(vx - f(nx * into));
        vy = f(vy - f(ny * into));
      }
    }
    if (x < radius || x > maxX) {
      x = Math.min(Math.max(x, radius), maxX);
      vx = 0;
    }
    if (y < radius || y > maxY) {
      y = Math.min(Math.max(y, radius), maxY);
      vy = 0;
    }
  }
  return [x, y, vx, vy];
}

/**
 * What the rules need of the arena's `joined.setup` (as the client parses
 * it: `{map, rules}`), in single precision; made once per match.
 */
export function movementRules({ map, rules }) {
  return {
    radius: f(rules.playerRadius),
    maxSpeed: f(rules.maxSpeed),
    acceleration: f(rules.acceleration),
    friction: f(rules.friction),
    walls: {
      width: f(map.width),
      height: f(map.height),
      obstacles: map.obstacles.map((o) => [f(o.x), f(o.y), f(o.w), f(o.h)]),
    },
  };
}

/**
 * One tick of a living player's movement: `state` is `[x, y, vx, vy]`,
 * `dir` what `moveDir` made of the stick, `rules` from `movementRules`,
 * `tickRate` the match's. Returns the next `[x, y, vx, vy]`.
 */
export function step(state, dir, rules, tickRate) {
  const dt = f(1 / tickRate);
  let [x, y, vx, vy] = state;
  if (dir[0] === 0 && dir[1] === 0) {
    const drag = Math.max(f(1 - f(rules.friction * dt)), 0);
    vx = f(vx * drag);
    vy = f(vy * drag);
  } else {
    // Steer towards the wanted velocity, at most `acceleration` per second.
    const [wx, wy] = [f(dir[0] * rules.maxSpeed), f(dir[1] * rules.maxSpeed)];
    const [ax, ay] = clampLength(f(wx - vx), f(wy - vy), f(rules.acceleration * dt));
    vx = f(vx + ax);
    vy = f(vy + ay);
  }
  [vx, vy] = clampLength(vx, vy, rules.maxSpeed);
  if (lengthSq(vx, vy) < REST_SQ) {
    vx = 0;
    vy = 0;
  }
  return slide(x, y, vx, vy, rules.radius, rules.walls, dt);
}
