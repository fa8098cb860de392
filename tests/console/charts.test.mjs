import assert from "node:assert/strict";
import { test } from "node:test";
import { chartLayout, clock, niceTicks } from "../../robotaxi_dispatch/console/static/js/charts.js";

test("ticks are round numbers from zero that cover the top", () => {
  assert.deepEqual(niceTicks(37), [0, 10, 20, 30, 40]);
  assert.deepEqual(niceTicks(4), [0, 1, 2, 3, 4]);
  assert.deepEqual(niceTicks(0), [0, 1]);
  assert.deepEqual(niceTicks(2.6), [0, 1, 2, 3]);
  assert.deepEqual(niceTicks(180), [0, 50, 100, 150, 200]);
});

test("times on the axis are Chongqing's clock", () => {
  assert.equal(clock("2026-12-01T06:05:00Z"), "14:05");
  assert.equal(clock("2026-12-01T14:05:00+08:00"), "14:05");
});

const BUCKETS = Array.from({ length: 12 }, (_, i) => ({ start: new Date(Date.UTC(2026, 11, 1, 6, i * 5)).toISOString(),
  requests: i * 3, mean_pickup_wait_s: i === 4 ? null : 60 * (1 + i / 4), completed: 0 }));

test("the chart has both axes, time labels and bars scaled to the top tick", () => {
  const layout = chartLayout(BUCKETS, { width: 316, height: 130 }), { plot } = layout;
  assert.deepEqual(layout.left.map((t) => t.label), ["0", "10", "20", "30", "40"]);
  assert.deepEqual(layout.right.map((t) => t.label), ["0", "1", "2", "3", "4"]);
  assert.deepEqual(layout.times.map((t) => t.label), ["14:00", "14:15", "14:30", "14:45"]);
  assert.equal(layout.left[0].y, plot.y + plot.h); assert.equal(layout.left.at(-1).y, plot.y);
  const last = layout.bars.at(-1);
  assert.ok(Math.abs(last.h - (33 / 40) * plot.h) < 1e-9 && last.x + last.w <= plot.x + plot.w);
  assert.equal(layout.line[4], null, "a bucket without pickups leaves a gap in the line");
  assert.ok(plot.x >= 30 && plot.x + plot.w <= 316 - 30, "room for both axes' labels");
});
