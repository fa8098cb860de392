// The demand heatmap: the last quarter hour's requests counted per cell, warmer where there are more.
import { project } from "./projection.js";

/** Return a cell's colour: faint amber for one request, strong red-orange for the busiest cell. */
export function heatColour(count, busiest, alpha = 1) {
  const k = busiest > 1 ? Math.min(1, (count - 1) / (busiest - 1)) : 1;
  const green = Math.round(190 - 150 * k), opacity = ((0.2 + 0.35 * k) * alpha).toFixed(3);
  return `rgba(255,${green},40,${opacity})`;
}

/** Return the cells as pixel rectangles of a view, with their colours. */
export function heatRects(heat, view) {
  if (!heat || !heat.cells.length) return [];
  const busiest = Math.max(...heat.cells.map((c) => c[2]));
  return heat.cells.map(([south, west, count]) => {
    const [x0, y0] = project(view, south + heat.cell, west), [x1, y1] = project(view, south, west + heat.cell);
    return { x: x0, y: y0, w: x1 - x0, h: y1 - y0, count, colour: heatColour(count, busiest) };
  });
}

/** Draw a frame's heatmap under the vehicles: a soft blob per cell, so neighbours blend into areas. */
export function drawHeat(ctx, heat, view) {
  if (!heat || !heat.cells.length) return;
  const busiest = Math.max(...heat.cells.map((c) => c[2]));
  for (const r of heatRects(heat, view)) {
    const x = r.x + r.w / 2, y = r.y + r.h / 2, radius = Math.max(4, Math.max(r.w, r.h) * 0.85);
    const blob = ctx.createRadialGradient(x, y, 0, x, y, radius);
    blob.addColorStop(0, r.colour); blob.addColorStop(1, heatColour(r.count, busiest, 0));
    ctx.fillStyle = blob; ctx.fillRect(x - radius, y - radius, 2 * radius, 2 * radius);
  }
}
