// The city map: the main region fitted to the canvas, other regions in insets, then every layer.
import { drawHeat } from "./heatmap.js";
import { ARROWS_UP_TO, COLOURS, MOVE, REQUEST, UNSERVED, drawSquares, drawVehicles, spriteSheet } from "./markers.js";
import { extend, fit, isEmpty, noBounds, pointsOf, project } from "./projection.js";
import { positionsAt } from "./interpolate.js";

const overlaps = (a, b) => a.south <= b.north && b.south <= a.north && a.west <= b.east && b.west <= a.east;

/**
 * Return what each region shows: its service areas, its fleet and, whole, the district outlines it lies in.
 * `fleets` maps a region to its vehicles' [lon, lat]; with `fleetOnly` the districts are left out.
 */
export function regionBounds(districts, areas, fleets, fleetOnly = false) {
  const regions = new Map();
  for (const area of areas) {
    const region = area.properties.region;
    regions.set(region, extend(regions.get(region) || noBounds(), pointsOf(area.geometry)));
  }
  for (const [region, points] of fleets) if (points.length) regions.set(region, extend(regions.get(region) || noBounds(), points));
  if (fleetOnly) return regions;
  // Each polygon on its own: a district's detached part far from the service stays out of view.
  const polygons = districts.flatMap((d) => d.geometry.coordinates.map((polygon) => extend(noBounds(), polygon[0])));
  for (const [region, core] of regions) {
    regions.set(region, polygons.filter((p) => overlaps(p, core)).reduce((b, p) => extend(b, [[p.west, p.south], [p.east, p.north]]), core));
  }
  return regions;
}

/** Return the main region: the one with the most vehicles, else the largest. */
export function mainRegion(bounds, fleets) {
  const size = (b) => (b.east - b.west) * (b.north - b.south);
  return [...bounds.keys()].sort((a, b) => ((fleets.get(b) || []).length - (fleets.get(a) || []).length)
    || size(bounds.get(b)) - size(bounds.get(a)))[0];
}

/**
 * Lay out the views: the main region over the whole canvas, each other region in an inset at
 * the top left, stacked (the legend sits at the bottom left, the panel on the right).
 */
export function layoutViews(bounds, main, { width, height }) {
  const views = [];
  if (main === undefined) return views;
  views.push({ region: main, ...fit(bounds.get(main), { x: 0, y: 0, w: width, h: height }, 24) });
  const insetW = Math.round(Math.min(260, width * 0.3)), insetH = Math.round(insetW * 0.75);
  let y = 8;
  for (const [region, b] of bounds) {
    if (region === main || isEmpty(b) || y + insetH > height) continue;
    views.push({ region, inset: true, ...fit(b, { x: 8, y, w: insetW, h: insetH }, 8) });
    y += insetH + 8;
  }
  return views;
}

/** Draw the districts, rivers, bridges and service areas of one view. */
export function drawBase(ctx, view, { city, areas, lang, scale = 1 }) {
  const { rect } = view, metresPerPx = 111195 / view.scale;
  ctx.save();
  ctx.beginPath(); ctx.rect(rect.x, rect.y, rect.w, rect.h); ctx.clip();
  ctx.fillStyle = view.inset ? "#0b121a" : "#0f1720"; ctx.fillRect(rect.x, rect.y, rect.w, rect.h);
  const path = (coords) => { ctx.beginPath(); coords.forEach(([lon, lat], i) => { const [x, y] = project(view, lat, lon); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); }); };
  const labels = [];
  for (const f of city.features) {
    const g = f.geometry;
    if (f.properties.kind === "district") {
      g.coordinates.forEach((poly) => { path(poly[0]); ctx.closePath(); ctx.fillStyle = "#18232e"; ctx.fill();
        ctx.strokeStyle = "#2f4255"; ctx.lineWidth = scale; ctx.stroke(); });
      const ring = g.coordinates[0][0];
      labels.push([lang === "zh" ? f.properties.name_zh : f.properties.name_en,
        project(view, ring.reduce((a, p) => a + p[1], 0) / ring.length, ring.reduce((a, p) => a + p[0], 0) / ring.length)]);
    } else if (f.properties.kind === "river") {
      path(g.coordinates); ctx.strokeStyle = "#1d4a73"; ctx.lineJoin = "round"; ctx.lineCap = "round";
      ctx.lineWidth = Math.max(2 * scale, (2 * f.properties.half_width_m) / metresPerPx); ctx.stroke();
    }
  }
  for (const a of areas) {
    path(a.geometry.coordinates[0]); ctx.closePath(); ctx.fillStyle = "rgba(63,185,80,0.07)"; ctx.fill();
    ctx.setLineDash([6 * scale, 4 * scale]); ctx.strokeStyle = "#3fb950"; ctx.lineWidth = 1.5 * scale; ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.font = `${12 * scale}px system-ui, "Noto Sans CJK SC", sans-serif`; ctx.textAlign = "center"; ctx.fillStyle = "#7d8fa3";
  for (const [text, [x, y]] of labels) ctx.fillText(text, x, y);
  if (view.inset) {
    ctx.strokeStyle = "#3d5368"; ctx.lineWidth = 2 * scale; ctx.strokeRect(rect.x + 1, rect.y + 1, rect.w - 2, rect.h - 2);
  }
  ctx.restore();
}

/** Return every vehicle of a frame entry in pixels of a view at `now`. */
export function vehiclePixels(view, entry, now) {
  const at = positionsAt(entry, now), xs = [], ys = [];
  at.lat.forEach((lat, i) => { const [x, y] = project(view, lat, at.lon[i]); xs.push(x); ys.push(y); });
  return { xs, ys };
}

const newCanvas = (width, height) => Object.assign(document.createElement("canvas"), { width, height });
const sheets = new Map();
const frameLayers = new WeakMap();

function sheetFor(statuses, size) {
  const key = `${statuses.join()}@${size}`;
  if (!sheets.has(key)) sheets.set(key, spriteSheet(newCanvas, statuses, size));
  return sheets.get(key);
}

/**
 * Return the layers that change only with the frame (heatmap, rebalancing moves, open and
 * unserved requests) drawn for the view, once per frame, view and choice of layers: redrawn
 * each animation frame they would cost more than the vehicles.
 */
function frameLayer(entry, view, layers, scale) {
  if (!frameLayers.has(entry)) frameLayers.set(entry, new WeakMap());
  const byView = frameLayers.get(entry), key = `${layers.heatmap}${layers.moves}`;
  if (!byView.has(view) || byView.get(view).key !== key) {
    const layer = newCanvas(view.rect.x + view.rect.w, view.rect.y + view.rect.h);
    drawFrameLayers(layer.getContext("2d"), view, entry.frame, layers, scale);
    byView.set(view, { key, layer });
  }
  return byView.get(view).layer;
}

function drawFrameLayers(ctx, view, frame, layers, scale) {
  const v = frame.vehicles;
  if (layers.heatmap) drawHeat(ctx, frame.heat, view);
  if (layers.moves) {   // from where the frame puts each vehicle: the glide moves it a few pixels at most
    const rebalancing = frame.statuses.indexOf("rebalancing");
    ctx.strokeStyle = MOVE; ctx.globalAlpha = 0.6; ctx.lineWidth = 1.5 * scale; ctx.beginPath();
    v.id.forEach((_, i) => {
      if (v.status[i] !== rebalancing || v.to_lat[i] == null) return;
      const [x, y] = project(view, v.lat[i], v.lon[i]), [tx, ty] = project(view, v.to_lat[i], v.to_lon[i]);
      ctx.moveTo(x, y); ctx.lineTo(tx, ty); ctx.rect(tx - 2 * scale, ty - 2 * scale, 4 * scale, 4 * scale);
    });
    ctx.stroke(); ctx.globalAlpha = 1;
  }
  ctx.fillStyle = REQUEST;
  for (const r of frame.requests) {
    const [x, y] = project(view, r.lat, r.lon), d = 4 * scale;
    ctx.beginPath(); ctx.moveTo(x, y - d); ctx.lineTo(x + d, y); ctx.lineTo(x, y + d); ctx.lineTo(x - d, y); ctx.fill();
  }
  ctx.strokeStyle = UNSERVED; ctx.lineWidth = 2 * scale; ctx.beginPath();
  for (const r of frame.unserved || []) {
    const [x, y] = project(view, r.lat, r.lon), d = 4 * scale;
    ctx.moveTo(x - d, y - d); ctx.lineTo(x + d, y + d); ctx.moveTo(x + d, y - d); ctx.lineTo(x - d, y + d);
  }
  ctx.stroke();
}

/** Draw one region's live layers in a view: the frame's layers, then vehicles, alerts, selection. */
export function drawLive(ctx, view, entry, now, { layers, selected, scale = 1 }) {
  const { frame } = entry, v = frame.vehicles, { rect } = view, size = Math.round((view.inset ? 9 : 13) * scale);
  ctx.save();
  ctx.beginPath(); ctx.rect(rect.x, rect.y, rect.w, rect.h); ctx.clip();
  ctx.drawImage(frameLayer(entry, view, layers, scale), 0, 0);
  const { xs, ys } = vehiclePixels(view, entry, now);
  if (onScreen(view, xs, ys) <= ARROWS_UP_TO) {
    drawVehicles(ctx, sheetFor(frame.statuses, size), { xs, ys, headings: entry.heading, codes: v.status });
  } else {
    drawSquares(ctx, { xs, ys, codes: v.status, statuses: frame.statuses }, Math.round(5 * scale));
  }
  ctx.strokeStyle = COLOURS.fault; ctx.lineWidth = 2 * scale; ctx.beginPath();
  for (const alert of frame.alerts || []) {
    const i = entry.byId.get(alert.vehicle), r = size;
    if (i === undefined) continue;
    ctx.moveTo(xs[i] + r, ys[i]); ctx.arc(xs[i], ys[i], r, 0, 2 * Math.PI);
  }
  ctx.stroke();
  const i = selected == null ? undefined : entry.byId.get(selected);
  if (i !== undefined) {
    ctx.strokeStyle = "#ffffff"; ctx.lineWidth = 2 * scale; ctx.beginPath(); ctx.arc(xs[i], ys[i], size * 1.1, 0, 2 * Math.PI); ctx.stroke();
  }
  ctx.restore();
}

/** Return how many of the pixels lie inside a view's rectangle. */
export function onScreen(view, xs, ys) {
  const { x, y, w, h } = view.rect;
  let n = 0;
  for (let i = 0; i < xs.length; i++) if (xs[i] >= x && xs[i] <= x + w && ys[i] >= y && ys[i] <= y + h) n++;
  return n;
}

/** Return the id of the vehicle nearest pixel (x, y) within `reach` px in a view, or null. */
export function vehicleAt(view, entries, now, x, y, reach = 14) {
  let best = null, bestD = reach * reach;
  for (const entry of entries) {
    const { xs, ys } = vehiclePixels(view, entry, now);
    xs.forEach((px, i) => {
      const d = (px - x) ** 2 + (ys[i] - y) ** 2;
      if (d < bestD) { best = entry.frame.vehicles.id[i]; bestD = d; }
    });
  }
  return best;
}
