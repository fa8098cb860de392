// Vehicles glide from where they are drawn to their new positions over one frame gap.

const MIN_GAP_MS = 100, MAX_GAP_MS = 2000, FIRST_GAP_MS = 400;
const MOVED_DEG = 1e-5;   // about a metre: less is standing still, and says nothing of the heading

/** Return the compass bearing in degrees (0 north, 90 east) from one point to another. */
export function bearing(lat1, lon1, lat2, lon2) {
  const dx = (lon2 - lon1) * Math.cos(((lat1 + lat2) / 2) * Math.PI / 180), dy = lat2 - lat1;
  return ((Math.atan2(dx, dy) * 180) / Math.PI + 360) % 360;
}

/** Return how far through its glide a frame received at `at` is at `now`, 0..1. */
export function progress(entry, now) {
  return Math.min(1, Math.max(0, (now - entry.at) / entry.gap));
}

/** Return every vehicle's drawn position at `now`: {lat: [...], lon: [...]}. */
export function positionsAt(entry, now) {
  const k = progress(entry, now), v = entry.frame.vehicles;
  const at = (to, from) => to.map((value, i) => from[i] + (value - from[i]) * k);
  return { lat: at(v.lat, entry.fromLat), lon: at(v.lon, entry.fromLon) };
}

/**
 * Take a new frame: each vehicle starts from where the previous entry draws it now (a vehicle
 * new to the map starts where it is), and heads where the vehicle reports or, failing that,
 * where it moves; one standing still keeps its last heading.
 */
export function glide(previous, frame, now) {
  const v = frame.vehicles, drawn = previous ? positionsAt(previous, now) : null;
  const fromLat = [], fromLon = [], heading = [];
  v.id.forEach((id, i) => {
    const j = previous ? previous.byId.get(id) : undefined;
    fromLat.push(j === undefined ? v.lat[i] : drawn.lat[j]);
    fromLon.push(j === undefined ? v.lon[i] : drawn.lon[j]);
    const moved = Math.abs(v.lat[i] - fromLat[i]) + Math.abs(v.lon[i] - fromLon[i]) > MOVED_DEG;
    const reported = v.heading ? v.heading[i] : null;
    heading.push(reported ?? (moved ? bearing(fromLat[i], fromLon[i], v.lat[i], v.lon[i])
      : j === undefined ? null : previous.heading[j]));
  });
  const gap = previous ? Math.min(MAX_GAP_MS, Math.max(MIN_GAP_MS, now - previous.at)) : FIRST_GAP_MS;
  return { frame, fromLat, fromLon, heading, at: now, gap, byId: new Map(v.id.map((id, i) => [id, i])) };
}
