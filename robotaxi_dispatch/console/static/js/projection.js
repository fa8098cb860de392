// Degrees to canvas pixels: an equirectangular view, fitted to what the operator needs to see.

const EMPTY = { south: Infinity, west: Infinity, north: -Infinity, east: -Infinity };

/** Return the bounds of [lon, lat] points (GeoJSON order), grown from `bounds`. */
export function extend(bounds, points) {
  let { south, west, north, east } = bounds;
  for (const [lon, lat] of points) {
    south = Math.min(south, lat); north = Math.max(north, lat);
    west = Math.min(west, lon); east = Math.max(east, lon);
  }
  return { south, west, north, east };
}

export const noBounds = () => ({ ...EMPTY });
export const isEmpty = (b) => !(b.south <= b.north && b.west <= b.east);

/** Return every [lon, lat] of a GeoJSON geometry (Polygon, MultiPolygon, LineString, Point). */
export function pointsOf(geometry) {
  const flat = (c) => (typeof c[0] === "number" ? [c] : c.flatMap(flat));
  return flat(geometry.coordinates);
}

/** Return the view showing `bounds` whole in a `rect` ({x, y, w, h}), with a margin of `pad` px. */
export function fit(bounds, rect, pad = 16) {
  const lat = (bounds.south + bounds.north) / 2, cos = Math.cos((lat * Math.PI) / 180);
  const spanX = Math.max(0.005, (bounds.east - bounds.west) * cos), spanY = Math.max(0.005, bounds.north - bounds.south);
  const scale = Math.min((rect.w - 2 * pad) / spanX, (rect.h - 2 * pad) / spanY);
  return { rect, lat, lon: (bounds.west + bounds.east) / 2, cos, scale };
}

/** Return the pixel of a point in a view. */
export function project(view, lat, lon) {
  const { rect } = view;
  return [rect.x + rect.w / 2 + (lon - view.lon) * view.cos * view.scale, rect.y + rect.h / 2 - (lat - view.lat) * view.scale];
}

/** Return the point under a pixel of a view: [lat, lon]. */
export function unproject(view, x, y) {
  const { rect } = view;
  return [view.lat - (y - rect.y - rect.h / 2) / view.scale, view.lon + (x - rect.x - rect.w / 2) / (view.cos * view.scale)];
}

/** Return the view zoomed by `factor` keeping the point under pixel (x, y) where it is. */
export function zoomAt(view, factor, x, y) {
  const [lat, lon] = unproject(view, x, y), scale = view.scale * factor;
  const zoomed = { ...view, scale };
  const [nx, ny] = project(zoomed, lat, lon);
  return { ...zoomed, lon: zoomed.lon + (nx - x) / (view.cos * scale), lat: zoomed.lat - (ny - y) / scale };
}

/** Return the view moved by a drag of (dx, dy) pixels. */
export function pan(view, dx, dy) {
  return { ...view, lon: view.lon - dx / (view.scale * view.cos), lat: view.lat + dy / view.scale };
}

/** Tell whether a pixel lies inside a view's rectangle. */
export function contains(view, x, y) {
  const { rect } = view;
  return x >= rect.x && x <= rect.x + rect.w && y >= rect.y && y <= rect.y + rect.h;
}
