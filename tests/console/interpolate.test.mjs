import assert from "node:assert/strict";
import { test } from "node:test";
import { bearing, glide, positionsAt, progress } from "../../robotaxi_dispatch/console/static/js/interpolate.js";

const frame = (id, lat, lon, heading = id.map(() => null)) => ({ vehicles: { id, lat, lon, heading } });

test("bearings point the compass way", () => {
  assert.equal(Math.round(bearing(29.6, 106.5, 29.7, 106.5)), 0);
  assert.equal(Math.round(bearing(29.6, 106.5, 29.6, 106.6)), 90);
  assert.equal(Math.round(bearing(29.6, 106.5, 29.5, 106.5)), 180);
  assert.equal(Math.round(bearing(29.6, 106.5, 29.6, 106.4)), 270);
});

test("the first frame is drawn where it says", () => {
  const entry = glide(null, frame([1], [29.6], [106.5]), 1000);
  assert.deepEqual(positionsAt(entry, 1000), { lat: [29.6], lon: [106.5] });
  assert.equal(entry.gap, 400);
});

test("a vehicle glides from where it is drawn to its new position over one frame gap", () => {
  const first = glide(null, frame([1, 2], [29.6, 29.7], [106.5, 106.6]), 0);
  const second = glide(first, frame([2, 1], [29.8, 29.61], [106.6, 106.5]), 500);
  assert.equal(second.gap, 500);
  const half = positionsAt(second, 750);
  assert.ok(Math.abs(half.lat[0] - 29.75) < 1e-9 && Math.abs(half.lat[1] - 29.605) < 1e-9, "ids matched, not indices");
  assert.deepEqual(positionsAt(second, 5000), { lat: [29.8, 29.61], lon: [106.6, 106.5] });
  assert.equal(progress(second, 400), 0);
});

test("a new frame mid-glide starts from the drawn position, not the old target", () => {
  const first = glide(null, frame([1], [29.6], [106.5]), 0);
  const second = glide(first, frame([1], [29.7], [106.5]), 400);
  const third = glide(second, frame([1], [29.8], [106.5]), 600);   // half-way through the second glide
  assert.ok(Math.abs(third.fromLat[0] - 29.65) < 1e-9);
});

test("a gap far too long or short is clamped", () => {
  const first = glide(null, frame([1], [29.6], [106.5]), 0);
  assert.equal(glide(first, frame([1], [29.6], [106.5]), 60000).gap, 2000);
  assert.equal(glide(first, frame([1], [29.6], [106.5]), 10).gap, 100);
});

test("heading: reported, else from the motion, else the last one known", () => {
  const first = glide(null, frame([1, 2], [29.6, 29.6], [106.5, 106.5], [45, null]), 0);
  assert.deepEqual(first.heading, [45, null]);
  const moving = glide(first, frame([1, 2], [29.6, 29.6], [106.5, 106.51], [45, null]), 400);
  assert.equal(moving.heading[0], 45);
  assert.equal(Math.round(moving.heading[1]), 90);
  const still = glide(moving, frame([1, 2], [29.6, 29.6], [106.5, 106.51], [45, null]), 5000);
  assert.equal(Math.round(still.heading[1]), 90);
});
