import assert from "node:assert/strict";
import { test } from "node:test";
import { alertKey, alertText, collectAlerts, newAlerts } from "../../robotaxi_dispatch/console/static/js/alerts.js";
import { translator } from "../../robotaxi_dispatch/console/static/js/i18n.js";

const frames = [
  { region: "liangjiang", alerts: [{ kind: "stuck_ride", vehicle: 3, ride: 9, since_s: 400 },
    { kind: "stuck_ride", vehicle: 4, ride: 10, since_s: 900 }, { kind: "fault", vehicle: 7 }] },
  { region: "yongchuan", alerts: [{ kind: "charger_down", vehicle: 5, booking: 2, status: "offline" }] },
];

test("alerts of every region, faults first, then chargers down, then the longest stuck rides", () => {
  const alerts = collectAlerts(frames);
  assert.deepEqual(alerts.map((a) => [a.kind, a.vehicle, a.region]), [["fault", 7, "liangjiang"],
    ["charger_down", 5, "yongchuan"], ["stuck_ride", 4, "liangjiang"], ["stuck_ride", 3, "liangjiang"]]);
});

test("an alert seen in the previous frame is not new again", () => {
  const first = newAlerts(collectAlerts(frames), new Set());
  assert.equal(first.fresh.length, 4);
  const again = newAlerts(collectAlerts(frames), first.keys);
  assert.deepEqual(again.fresh, []);
  assert.notEqual(alertKey({ kind: "stuck_ride", vehicle: 3, ride: 9 }), alertKey({ kind: "stuck_ride", vehicle: 3, ride: 11 }));
});

test("alerts read in the operator's language", () => {
  const catalogue = { en: { alert_stuck_ride: "Ride #{ride}: vehicle #{vehicle} assigned {minutes} min ago" },
    "zh-CN": { alert_charger_down: "车辆 #{vehicle} 预约的充电桩{status}", offline: "离线" } };
  assert.equal(alertText(frames[0].alerts[0], translator(catalogue, "en")), "Ride #9: vehicle #3 assigned 6 min ago");
  assert.equal(alertText(frames[1].alerts[0], translator(catalogue, "zh")), "车辆 #5 预约的充电桩离线");
});
