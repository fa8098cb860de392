// Alerts from the frames: faulted vehicles, chargers down under a booked slot, stuck rides.

const ORDER = { fault: 0, charger_down: 1, stuck_ride: 2 };

/** Return the alerts of every region's latest frame, the most urgent first. */
export function collectAlerts(frames) {
  const all = [];
  for (const frame of frames) for (const alert of frame.alerts || []) all.push({ ...alert, region: frame.region });
  return all.sort((a, b) => ORDER[a.kind] - ORDER[b.kind] || (b.since_s || 0) - (a.since_s || 0) || a.vehicle - b.vehicle);
}

/** Return an alert's identity: the same trouble keeps its key from frame to frame. */
export function alertKey(alert) {
  return `${alert.kind}:${alert.vehicle}:${alert.ride ?? alert.booking ?? ""}`;
}

/** Return the alerts not among the keys seen before, and the keys to remember now. */
export function newAlerts(alerts, seen) {
  const keys = new Set(alerts.map(alertKey));
  return { fresh: alerts.filter((a) => !seen.has(alertKey(a))), keys };
}

/** Return an alert in words of the language. */
export function alertText(alert, t) {
  const minutes = Math.floor((alert.since_s || 0) / 60);
  return t(`alert_${alert.kind}`, { vehicle: alert.vehicle, ride: alert.ride, minutes, status: t(alert.status || "") });
}
