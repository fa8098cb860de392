import assert from "node:assert/strict";
import { test } from "node:test";
import { ARROWS_UP_TO, COLOURS, REQUEST, SIZE, arrow, colourDistance, drawSquares, drawVehicles, headingColumn, spriteSheet } from "../../robotaxi_dispatch/console/static/js/markers.js";

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

function recorder() {
  const calls = [], record = (name) => (...args) => calls.push([name, ...args]);
  const ctx = { calls, beginPath: record("beginPath"), moveTo: record("moveTo"), lineTo: record("lineTo"), arc: record("arc"),
    closePath: record("closePath"), fill: record("fill"), stroke: record("stroke"), drawImage: record("drawImage"),
    set fillStyle(value) { calls.push(["set fillStyle", value]); }, set strokeStyle(_) {}, set lineWidth(_) {} };
  return ctx;
}

test("headings snap to the sprite sheet's columns; an unknown one is the dot", () => {
  assert.equal(headingColumn(0), 0); assert.equal(headingColumn(94), 9); assert.equal(headingColumn(356), 0);
  assert.equal(headingColumn(-90), 27); assert.equal(headingColumn(null), 36);
});

test("the sprite sheet draws each status's markers once, a row per status", () => {
  const ctx = recorder(), made = [];
  const sheet = spriteSheet((w, h) => { made.push([w, h]); return { width: w, height: h, getContext: () => ctx }; },
    ["available", "dispatched"], 13);
  assert.deepEqual(made, [[37 * sheet.cell, 2 * sheet.cell]]);
  assert.ok(sheet.cell >= 13 * 1.3);
  assert.deepEqual(ctx.calls.filter(([n]) => n === "set fillStyle").map(([, v]) => v), [COLOURS.available, COLOURS.dispatched]);
  assert.equal(ctx.calls.filter(([n]) => n === "fill").length, 2 * 37);
  assert.equal(ctx.calls.filter(([n]) => n === "arc").length, 2, "one dot per status");
});

test("each vehicle is stamped from its status's row at its heading's column, centred on its pixel", () => {
  const ctx = recorder(), sheet = { canvas: "sheet", cell: 20 };
  drawVehicles(ctx, sheet, { xs: [10, 20, 30], ys: [15, 25, 35], headings: [0, null, 90], codes: [0, 0, 1] });
  assert.deepEqual(ctx.calls, [["drawImage", "sheet", 0, 0, 20, 20, 0, 5, 20, 20],
    ["drawImage", "sheet", 720, 0, 20, 20, 10, 15, 20, 20], ["drawImage", "sheet", 180, 20, 20, 20, 20, 25, 20, 20]]);
});

test("a dense view draws squares, one path per status", () => {
  const ctx = recorder();
  ctx.rect = (...args) => ctx.calls.push(["rect", ...args]);
  drawSquares(ctx, { xs: [10, 20, 30], ys: [10, 20, 30], codes: [1, 0, 1], statuses: ["available", "dispatched"] }, 6);
  assert.deepEqual(ctx.calls.filter(([n]) => n === "set fillStyle").map(([, v]) => v), [COLOURS.available, COLOURS.dispatched]);
  assert.deepEqual(ctx.calls.filter(([n]) => n === "rect").map(([, x, y]) => [x, y]), [[17, 17], [7, 7], [27, 27]]);
  assert.equal(ctx.calls.filter(([n]) => n === "fill").length, 2);
  assert.ok(ARROWS_UP_TO >= 500, "a city's fleet in one region still shows its headings");
});
