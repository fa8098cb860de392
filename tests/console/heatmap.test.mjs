import assert from "node:assert/strict";
import { test } from "node:test";
import { heatColour, heatRects } from "../../robotaxi_dispatch/console/static/js/heatmap.js";
import { fit } from "../../robotaxi_dispatch/console/static/js/projection.js";

test("busier cells are warmer and more opaque", () => {
  const alpha = (c) => Number(c.match(/([\d.]+)\)$/)[1]), green = (c) => Number(c.split(",")[1]);
  assert.ok(alpha(heatColour(10, 10)) > alpha(heatColour(1, 10)));
  assert.ok(green(heatColour(10, 10)) < green(heatColour(1, 10)));
  assert.equal(heatColour(1, 1), heatColour(5, 5));
});

test("cells become rectangles of the view, one cell wide", () => {
  const view = fit({ south: 29.6, west: 106.5, north: 29.7, east: 106.6 }, { x: 0, y: 0, w: 500, h: 500 }, 0);
  const rects = heatRects({ cell: 0.01, cells: [[29.65, 106.55, 4], [29.6, 106.5, 1]] }, view);
  assert.equal(rects.length, 2);
  assert.ok(Math.abs(rects[0].h - 0.01 * view.scale) < 1e-9 && Math.abs(rects[0].w - 0.01 * view.scale * view.cos) < 1e-9);
  assert.ok(Math.abs(rects[1].y + rects[1].h - 500) < 1e-9, "the south-west cell sits on the bottom edge");
  assert.deepEqual(heatRects({ cell: 0.01, cells: [] }, view), []);
});
