import assert from "node:assert/strict";
import { test } from "node:test";
import { initialLanguage, translator } from "../../robotaxi_dispatch/console/static/js/i18n.js";

const CATALOGUE = { en: { title: "Robotaxi operations", seconds: "{n} s", only_en: "English only" },
  "zh-CN": { title: "重庆自动驾驶出租车运营台", seconds: "{n} 秒" } };

test("strings in the chosen language, with parameters", () => {
  assert.equal(translator(CATALOGUE, "zh")("title"), "重庆自动驾驶出租车运营台");
  assert.equal(translator(CATALOGUE, "zh")("seconds", { n: 12 }), "12 秒");
  assert.equal(translator(CATALOGUE, "en")("seconds", { n: 12 }), "12 s");
  assert.equal(translator(CATALOGUE, "en")("seconds"), "{n} s", "a missing parameter stays visible");
});

test("an untranslated string falls back to English, then to its key", () => {
  assert.equal(translator(CATALOGUE, "zh")("only_en"), "English only");
  assert.equal(translator(CATALOGUE, "zh")("nowhere"), "nowhere");
});

test("the first language: the saved one, else the browser's", () => {
  assert.equal(initialLanguage("en", "zh-CN"), "en");
  assert.equal(initialLanguage(null, "zh-TW"), "zh");
  assert.equal(initialLanguage(null, "de-DE"), "en");
  assert.equal(initialLanguage("fr", "en-GB"), "en");
});
