import assert from "node:assert/strict";
import { test } from "node:test";
import { COLOURS, REQUEST, SIZE, arrow, colourDistance, drawVehicles } from "../../robotaxi_dispatch/console/static/js/markers.js";

test("'to pickup' and 'available' are far apart, and every status has its own colour", () => {
  assert.ok(colourDistance(COLOURS.dispatched, COLOURS.available) > 150);
  const colours = Object.values(COLOURS);
  for (const a of colours) for (const b of colours) if (a !== b) assert.ok(colourDistance(a, b) > 40, `${a} vs ${b}`);
  for (const c of colours) assert.ok(colourDistance(c, REQUEST) > 60);
});

test("an arrow points where the vehicle heads", () => {
  const [tipN] = arrow(100, 100, 0), [tipE] = arrow(100, 100, 90);
  assert.ok(Math.abs(tipN[0] - 100) < 1e-9 && tipN[1] < 100, "north is up");
  assert.ok(tipE[0] > 100 && Math.abs(tipE[1] - 100) < 1e-9, "east is right");
  const corners = arrow(0, 0, 30), xs = corners.map((p) => p[0]), ys = corners.map((p) => p[1]);
  assert.ok(Math.max(...xs) - Math.min(...xs) >= 8 && Math.max(...ys) - Math.min(...ys) >= 8, "legible, not a 3 px dot");
  assert.ok(SIZE >= 12);
});

test("vehicles are drawn one path per status", () => {
  const calls = [], record = (name) => (...args) => calls.push([name, ...args]);
  const ctx = { beginPath: record("beginPath"), moveTo: record("moveTo"), lineTo: record("lineTo"), arc: record("arc"),
    closePath: record("closePath"), fill: record("fill"), stroke: record("stroke"),
    set fillStyle(value) { calls.push(["set fillStyle", value]); }, set strokeStyle(_) {}, set lineWidth(_) {} };
  drawVehicles(ctx, { xs: [10, 20, 30], ys: [10, 20, 30], headings: [0, null, 90], codes: [0, 0, 1], statuses: ["available", "dispatched"] });
  assert.equal(calls.filter(([n]) => n === "fill").length, 2);
  assert.deepEqual(calls.filter(([n]) => n === "set fillStyle").map(([, v]) => v), [COLOURS.available, COLOURS.dispatched]);
  assert.equal(calls.filter(([n]) => n === "arc").length, 1, "no heading yet: a dot");
});
