// Vehicle markers: an arrow pointing where the vehicle heads, in its status's colour.

// Colours told apart at a glance on the dark map, "to pickup" (amber) far from "available" (green).
export const COLOURS = {
  available: "#3fb950", rebalancing: "#56d4dd", dispatched: "#ffa600", on_trip: "#4c8dff", to_charger: "#e0a8ff",
  charging: "#a371f7", to_depot: "#b1bac4", pulled_over: "#6e7681", fault: "#ff4040",
};
export const REQUEST = "#ff7eb6";    // an open request waiting for a vehicle
export const UNSERVED = "#ff4d6d";   // a request that found no vehicle
export const MOVE = "#56d4dd";       // a rebalancing move, the colour of its vehicle
export const SIZE = 13;              // px from tip to tail: legible at every zoom
// Above this many vehicles on screen, arrows overlap into noise and cost too much to stamp
// (about 25 us each in software-rendered Chromium): they become squares, which draw ~20x faster.
export const ARROWS_UP_TO = 800;

/** Return a colour's distance from another in RGB (0..441): how easily they are told apart. */
export function colourDistance(a, b) {
  const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const [p, q] = [rgb(a), rgb(b)];
  return Math.hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]);
}

/** Return the corners of an arrow at (x, y) pointing at `heading` (degrees, 0 north), tip first. */
export function arrow(x, y, heading, size = SIZE) {
  const a = (heading * Math.PI) / 180, sin = Math.sin(a), cos = Math.cos(a);
  const at = (forward, right) => [x + forward * sin + right * cos, y - forward * cos + right * sin];
  return [at(size * 0.6, 0), at(-size * 0.4, size * 0.4), at(-size * 0.15, 0), at(-size * 0.4, -size * 0.4)];
}

const TURNS = 36;   // sprite headings: every 10 degrees looks smooth at this size

/** Return a heading's column in the sprite sheet: one of TURNS, or TURNS (a dot) when unknown. */
export function headingColumn(heading) {
  if (heading == null) return TURNS;
  return Math.round((((heading % 360) + 360) % 360) / (360 / TURNS)) % TURNS;
}

/**
 * Return a sprite sheet of every status's marker at every heading (rows: statuses, columns:
 * headings, then the dot), drawn once: stamping sprites is far cheaper than filling and
 * stroking thousands of paths each animation frame.
 */
export function spriteSheet(makeCanvas, statuses, size = SIZE) {
  const cell = Math.ceil(size * 1.3) + 2, sheet = makeCanvas((TURNS + 1) * cell, statuses.length * cell);
  const ctx = sheet.getContext("2d");
  ctx.lineWidth = Math.max(1, size / 12); ctx.strokeStyle = "#0b1118";
  statuses.forEach((status, row) => {
    ctx.fillStyle = COLOURS[status] || "#ffffff";
    for (let column = 0; column <= TURNS; column++) {
      const x = column * cell + cell / 2, y = row * cell + cell / 2;
      ctx.beginPath();
      if (column === TURNS) ctx.arc(x, y, size * 0.35, 0, 2 * Math.PI);
      else {
        const corners = arrow(x, y, (column * 360) / TURNS, size);
        ctx.moveTo(...corners[0]);
        for (const corner of corners.slice(1)) ctx.lineTo(...corner);
        ctx.closePath();
      }
      ctx.fill(); ctx.stroke();
    }
  });
  return { canvas: sheet, cell, size, statuses: statuses.join() };
}

/** Stamp the vehicles (pixels xs, ys) with their status's marker at their heading. */
export function drawVehicles(ctx, sheet, { xs, ys, headings, codes }) {
  const { canvas, cell } = sheet, half = cell / 2;
  for (let i = 0; i < xs.length; i++) {
    ctx.drawImage(canvas, headingColumn(headings[i]) * cell, codes[i] * cell, cell, cell, xs[i] - half, ys[i] - half, cell, cell);
  }
}

/** Draw many vehicles as squares in their status's colour, one path per status (the dense view). */
export function drawSquares(ctx, { xs, ys, codes, statuses }, size) {
  const half = size / 2;
  statuses.forEach((status, code) => {
    ctx.fillStyle = COLOURS[status] || "#ffffff";
    ctx.beginPath();
    for (let i = 0; i < xs.length; i++) if (codes[i] === code) ctx.rect(xs[i] - half, ys[i] - half, size, size);
    ctx.fill();
  });
}
