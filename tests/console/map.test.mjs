import assert from "node:assert/strict";
import { test } from "node:test";
import { layoutViews, mainRegion, onScreen, regionBounds } from "../../robotaxi_dispatch/console/static/js/map.js";
import { project } from "../../robotaxi_dispatch/console/static/js/projection.js";

const square = (west, south, east, north) => [[[west, south], [east, south], [east, north], [west, north], [west, south]]];
const district = (id, ...box) => ({ id, properties: { kind: "district" }, geometry: { type: "MultiPolygon", coordinates: [square(...box)] } });
const area = (region, ...box) => ({ properties: { region }, geometry: { type: "Polygon", coordinates: square(...box) } });
// Shaped like the seed: Liangjiang's zone in Yubei and the Liangjiang district, Yongchuan's far to the west.
const DISTRICTS = [district("yubei", 106.5, 29.602, 106.7, 29.78), district("liangjiang", 106.48, 29.635, 106.85, 29.8),
  district("yuzhong", 106.5, 29.532, 106.592, 29.566), district("yongchuan", 105.8, 29.25, 106.05, 29.45)];
const AREAS = [area("liangjiang", 106.525, 29.645, 106.61, 29.74), area("yongchuan", 105.86, 29.31, 105.985, 29.405)];

test("each region shows its service areas, its fleet and the districts it lies in, whole", () => {
  const fleets = new Map([["liangjiang", [[106.55, 29.66], [106.9, 29.7]]]]);
  const bounds = regionBounds(DISTRICTS, AREAS, fleets);
  assert.deepEqual(bounds.get("liangjiang"), { south: 29.602, west: 106.48, north: 29.8, east: 106.9 });
  assert.deepEqual(bounds.get("yongchuan"), { south: 29.25, west: 105.8, north: 29.45, east: 106.05 });
  const tight = regionBounds(DISTRICTS, AREAS, fleets, true);
  assert.deepEqual(tight.get("liangjiang"), { south: 29.645, west: 106.525, north: 29.74, east: 106.9 });
});

test("a district's detached part away from the service stays out of the view", () => {
  const split = { id: "split", properties: { kind: "district" },
    geometry: { type: "MultiPolygon", coordinates: [square(106.5, 29.64, 106.6, 29.7), square(106.7, 29.69, 106.85, 29.8)] } };
  const bounds = regionBounds([split], AREAS.slice(0, 1), new Map());
  assert.deepEqual(bounds.get("liangjiang"), { south: 29.64, west: 106.5, north: 29.74, east: 106.61 });
});

test("the main region is the one with the most vehicles; the others go in insets", () => {
  const fleets = new Map([["liangjiang", [[106.55, 29.66]]], ["yongchuan", [[105.9, 29.35], [105.91, 29.36]]]]);
  const bounds = regionBounds(DISTRICTS, AREAS, fleets);
  assert.equal(mainRegion(bounds, fleets), "yongchuan");
  assert.equal(mainRegion(bounds, new Map()), "liangjiang", "without vehicles, the largest");
});

for (const [width, height] of [[940, 760], [1520, 1000], [390, 520]]) {
  test(`at ${width}x${height} the main region fills the canvas and the inset stays in the top-left corner`, () => {
    const bounds = regionBounds(DISTRICTS, AREAS, new Map());
    const [main, inset] = layoutViews(bounds, "liangjiang", { width, height });
    const b = bounds.get("liangjiang");
    const [x0, y0] = project(main, b.north, b.west), [x1, y1] = project(main, b.south, b.east);
    assert.ok(x0 >= 0 && y0 >= 0 && x1 <= width && y1 <= height, "nothing of the region is cut");
    const usedX = (x1 - x0) / width, usedY = (y1 - y0) / height;
    assert.ok(Math.max(usedX, usedY) > 0.85, `no large empty band: ${usedX.toFixed(2)} x ${usedY.toFixed(2)}`);
    assert.ok(Math.abs((x0 + x1) / 2 - width / 2) < 1 && Math.abs((y0 + y1) / 2 - height / 2) < 1, "centred");
    assert.equal(inset.region, "yongchuan");
    assert.ok(inset.inset && inset.rect.x === 8 && inset.rect.y === 8 && inset.rect.w <= width * 0.3 + 1);
    assert.ok(inset.rect.y + inset.rect.h < height / 2, "the legend at the bottom left does not cover it");
  });
}

test("only the vehicles inside a view count as on screen", () => {
  const view = { rect: { x: 8, y: 8, w: 100, h: 50 } };
  assert.equal(onScreen(view, [8, 50, 108, 120, 50], [8, 30, 58, 30, -1]), 3);
});
