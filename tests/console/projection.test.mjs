import assert from "node:assert/strict";
import { test } from "node:test";
import { contains, extend, fit, isEmpty, noBounds, pan, pointsOf, project, unproject, zoomAt } from "../../robotaxi_dispatch/console/static/js/projection.js";

const RECT = { x: 0, y: 0, w: 1000, h: 600 };
const close = (a, b, eps = 1e-6) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

test("bounds grow over GeoJSON points of any geometry", () => {
  assert.ok(isEmpty(noBounds()));
  const b = extend(noBounds(), pointsOf({ type: "MultiPolygon", coordinates: [[[[106.5, 29.6], [106.7, 29.8], [106.6, 29.5]]]] }));
  assert.deepEqual(b, { south: 29.5, west: 106.5, north: 29.8, east: 106.7 });
  assert.deepEqual(pointsOf({ type: "Point", coordinates: [106.1, 29.1] }), [[106.1, 29.1]]);
});

test("a fitted view shows its bounds whole, centred, within the margin", () => {
  const b = { south: 29.602, west: 106.48, north: 29.8, east: 106.85 }, view = fit(b, RECT, 24);
  const [x0, y0] = project(view, b.north, b.west), [x1, y1] = project(view, b.south, b.east);
  assert.ok(x0 >= 24 - 1e-9 && x1 <= 976 + 1e-9 && y0 >= 24 - 1e-9 && y1 <= 576 + 1e-9);
  close((x0 + x1) / 2, 500); close((y0 + y1) / 2, 300);
  assert.ok(Math.abs(x0 - 24) < 1e-6 || Math.abs(y0 - 24) < 1e-6, "it fills one dimension");
});

test("a view in an inset is placed inside its rectangle", () => {
  const view = fit({ south: 29.3, west: 105.86, north: 29.4, east: 105.98 }, { x: 8, y: 8, w: 260, h: 195 }, 8);
  const [x, y] = project(view, 29.35, 105.92);
  close(x, 8 + 130); close(y, 8 + 97.5);
  assert.ok(contains(view, x, y) && !contains(view, 300, 100));
});

test("unproject undoes project; zooming keeps the point under the cursor; pan moves by pixels", () => {
  const view = fit({ south: 29.6, west: 106.5, north: 29.7, east: 106.6 }, RECT);
  const [lat, lon] = unproject(view, 123, 456), [x, y] = project(view, lat, lon);
  close(x, 123); close(y, 456);
  const zoomed = zoomAt(view, 2, 123, 456), [zx, zy] = project(zoomed, lat, lon);
  close(zx, 123); close(zy, 456); close(zoomed.scale, view.scale * 2);
  const moved = pan(view, 50, -20), [px, py] = project(moved, lat, lon);
  close(px, 173); close(py, 436);
});
