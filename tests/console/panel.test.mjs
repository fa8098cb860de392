import assert from "node:assert/strict";
import { test } from "node:test";
import { glide } from "../../robotaxi_dispatch/console/static/js/interpolate.js";
import { translator } from "../../robotaxi_dispatch/console/static/js/i18n.js";
import { kpiTexts, liveVehicle, locate, lowBattery, parseVehicleId, vehicleTexts } from "../../robotaxi_dispatch/console/static/js/panel.js";

const STATUSES = ["available", "rebalancing", "dispatched"];
const entry = (region, id, soc, status = [0, 0], ride = [null, null]) => glide(null, { region, statuses: STATUSES, low_soc: 25,
  vehicles: { id, lat: [29.6, 29.7], lon: [106.5, 106.6], heading: [null, null], soc, status, ride } }, 0);
const t = translator({ en: { available: "available", dispatched: "to pickup", none: "none", ride_arriving: "arriving",
  passengers: "{n} pax", seconds: "{n} s", minutes: "{n} min" } }, "en");

test("a typed vehicle id is a positive whole number, with or without #", () => {
  assert.equal(parseVehicleId(" 42 "), 42); assert.equal(parseVehicleId("#7"), 7);
  for (const bad of ["", "0", "-3", "4.5", "abc", "1e3", "99999999999"]) assert.equal(parseVehicleId(bad), null, bad);
});

test("a vehicle is found in whichever region's frame shows it", () => {
  const entries = [entry("liangjiang", [1, 2], [50, 60]), entry("yongchuan", [8, 9], [70, 80])];
  assert.equal(locate(entries, 9).entry.frame.region, "yongchuan");
  assert.equal(locate(entries, 3), null);
});

test("the selected vehicle follows the live frame", () => {
  const entries = [entry("liangjiang", [1, 2], [50, 61.4], [0, 2], [null, 77])];
  const v = liveVehicle({ id: 2, plate: "渝A·1", status: "available", ride: null }, entries);
  assert.deepEqual([v.status, v.soc, v.position, v.rideId], ["dispatched", 61.4, { lat: 29.7, lon: 106.6 }, 77]);
  const gone = liveVehicle({ id: 5, status: "charging", ride: { id: 3 } }, entries);
  assert.deepEqual([gone.status, gone.rideId], ["charging", 3]);
  const texts = vehicleTexts({ ...v, ride: { id: 77, status: "arriving", passengers: 2 } }, t);
  assert.deepEqual(texts, { id: "#2", plate: "渝A·1", status: "to pickup", soc: "61%", position: "29.70000, 106.60000",
    ride: "#77 · arriving · 2 pax" });
  assert.equal(vehicleTexts({ id: 1, status: "available", soc: null, ride: null }, t).ride, "none");
});

test("KPIs in words: seconds under two minutes, minutes above", () => {
  assert.deepEqual(kpiTexts({ open_requests: 3, mean_pickup_wait_s: 95.4, p95_pickup_wait_s: 312, utilisation: 0.456,
    served_share: null }, t), { open_requests: "3", mean_pickup_wait_s: "95 s", p95_pickup_wait_s: "5.2 min",
    utilisation: "46%", served_share: "–" });
});

test("low battery across regions, emptiest first", () => {
  const entries = [entry("liangjiang", [1, 2], [24, 60]), entry("yongchuan", [8, 9], [10, null])];
  assert.deepEqual(lowBattery(entries), [[8, 10], [1, 24]]);
});
