// What the side panel says: KPIs, the selected vehicle, the low-battery list.

/** Return a vehicle id typed by the operator, or null when it is not one. */
export function parseVehicleId(text) {
  const value = String(text).trim().replace(/^#/, "");
  return /^\d{1,10}$/.test(value) && Number(value) > 0 ? Number(value) : null;
}

/** Return where a vehicle is in the latest frames: {entry, i}, or null when no frame shows it. */
export function locate(entries, id) {
  for (const entry of entries) {
    const i = entry.byId.get(id);
    if (i !== undefined) return { entry, i };
  }
  return null;
}

/** Return the selected vehicle as the latest frame shows it (the API's answer where no frame does). */
export function liveVehicle(selected, entries) {
  const found = locate(entries, selected.id);
  if (!found) return { ...selected, rideId: selected.ride ? selected.ride.id : null };
  const { entry: { frame }, i } = found, v = frame.vehicles;
  return { ...selected, status: frame.statuses[v.status[i]], soc: v.soc[i], position: { lat: v.lat[i], lon: v.lon[i] },
    rideId: v.ride[i] ?? null };
}

/** Return the panel's texts for a vehicle. */
export function vehicleTexts(vehicle, t) {
  const ride = vehicle.ride;
  return {
    id: `#${vehicle.id}`, plate: vehicle.plate || "", status: t(vehicle.status),
    soc: vehicle.soc == null ? "–" : `${Math.round(vehicle.soc)}%`,
    position: vehicle.position ? `${vehicle.position.lat.toFixed(5)}, ${vehicle.position.lon.toFixed(5)}` : "–",
    ride: ride ? `#${ride.id} · ${t(`ride_${ride.status}`)} · ${t("passengers", { n: ride.passengers })}` : t("none"),
  };
}

/** Return the KPI texts, keyed by the element they go in. */
export function kpiTexts(m, t) {
  const wait = (s) => (s == null ? "–" : s < 120 ? t("seconds", { n: Math.round(s) }) : t("minutes", { n: (s / 60).toFixed(1) }));
  const pct = (x) => (x == null ? "–" : `${Math.round(x * 100)}%`);
  return { open_requests: String(m.open_requests), mean_pickup_wait_s: wait(m.mean_pickup_wait_s),
    p95_pickup_wait_s: wait(m.p95_pickup_wait_s), utilisation: pct(m.utilisation), served_share: pct(m.served_share) };
}

/** Return the vehicles under the low-battery mark, emptiest first: [[id, soc], ...]. */
export function lowBattery(entries) {
  const low = [];
  for (const { frame } of entries) {
    const v = frame.vehicles;
    v.id.forEach((id, i) => { if (v.soc[i] != null && v.soc[i] < frame.low_soc) low.push([id, v.soc[i]]); });
  }
  return low.sort((a, b) => a[1] - b[1] || a[0] - b[0]);
}
