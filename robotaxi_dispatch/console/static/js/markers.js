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

/** Draw the vehicles (pixels xs, ys) with their headings, one path per status: thousands stay cheap. */
export function drawVehicles(ctx, { xs, ys, headings, codes, statuses }, size = SIZE) {
  ctx.lineWidth = 1; ctx.strokeStyle = "#0b1118";
  statuses.forEach((status, code) => {
    ctx.fillStyle = COLOURS[status] || "#ffffff";
    ctx.beginPath();
    for (let i = 0; i < xs.length; i++) {
      if (codes[i] !== code) continue;
      if (headings[i] == null) {   // no heading known yet: a dot
        ctx.moveTo(xs[i] + size * 0.35, ys[i]); ctx.arc(xs[i], ys[i], size * 0.35, 0, 2 * Math.PI);
        continue;
      }
      const corners = arrow(xs[i], ys[i], headings[i], size);
      ctx.moveTo(...corners[0]);
      for (const corner of corners.slice(1)) ctx.lineTo(...corner);
      ctx.closePath();
    }
    ctx.fill(); ctx.stroke();
  });
}
