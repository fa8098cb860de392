import assert from "node:assert/strict";
import { test } from "node:test";
import { SHORTCUTS, actionFor, keysByAction } from "../../robotaxi_dispatch/console/static/js/shortcuts.js";

const key = (k, extra = {}) => ({ key: k, target: { tagName: "CANVAS" }, ...extra });

test("keys map to the console's actions", () => {
  assert.equal(actionFor(key("/")), "find");
  assert.equal(actionFor(key("F")), "fit");
  assert.equal(actionFor(key("+")), "zoom_in");
  assert.equal(actionFor(key("ArrowLeft")), "pan_left");
  assert.equal(actionFor(key("Escape")), "close");
  assert.equal(actionFor(key("x")), null);
});

test("typing in a field or with a modifier is left alone, except Escape", () => {
  assert.equal(actionFor(key("f", { target: { tagName: "INPUT" } })), null);
  assert.equal(actionFor(key("Escape", { target: { tagName: "INPUT" } })), "close");
  assert.equal(actionFor(key("l", { ctrlKey: true })), null);
  assert.equal(actionFor(key("r", { metaKey: true })), null);
});

test("the help list names every action once, with all its keys", () => {
  const help = new Map(keysByAction());
  assert.equal(help.size, new Set(SHORTCUTS.map(([, a]) => a)).size);
  assert.equal(help.get("zoom_in"), "+ =");
  assert.equal(help.get("pan_left"), "←");
  assert.equal(help.get("close"), "Esc");
});
