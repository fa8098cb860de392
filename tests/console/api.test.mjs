import assert from "node:assert/strict";
import { test } from "node:test";
import { createApi, problemText } from "../../robotaxi_dispatch/console/static/js/api.js";

const answer = (status, body) => ({ status, ok: status < 400, json: async () => body });

function fakeFetch(script) {
  const calls = [];
  const fetch = async (path, options) => { calls.push({ path, ...options }); return script(path, options, calls.length); };
  return { fetch, calls };
}

test("calls carry the token and the language, and send JSON bodies", async () => {
  const { fetch, calls } = fakeFetch(() => answer(200, {}));
  const api = createApi({ fetch, tokens: { access: "A1", refresh: "R1" }, save() {}, language: () => "zh-CN", expired() {} });
  await api("/api/v1/ops/vehicles/3/commands", { method: "POST", json: { command: "pull_over" } });
  assert.equal(calls[0].headers.Authorization, "Bearer A1");
  assert.equal(calls[0].headers["Accept-Language"], "zh-CN");
  assert.equal(calls[0].headers["Content-Type"], "application/json");
  assert.equal(calls[0].body, "{\"command\":\"pull_over\"}");
});

test("a 401 refreshes the tokens once and repeats the call", async () => {
  const tokens = { access: "old", refresh: "R1" }, saved = [];
  const { fetch, calls } = fakeFetch((path, options) => {
    if (path === "/api/v1/auth/refresh") return answer(200, { access_token: "new", refresh_token: "R2" });
    return options.headers.Authorization === "Bearer new" ? answer(200, { ok: 1 }) : answer(401, {});
  });
  const api = createApi({ fetch, tokens, save: (pair) => { saved.push(pair); Object.assign(tokens, pair); },
    language: () => "en", expired() { assert.fail("not expired"); } });
  const res = await api("/api/v1/ops/metrics");
  assert.equal(res.status, 200);
  assert.deepEqual(saved, [{ access: "new", refresh: "R2" }]);
  assert.deepEqual(calls.map((c) => c.path), ["/api/v1/ops/metrics", "/api/v1/auth/refresh", "/api/v1/ops/metrics"]);
});

test("a refused refresh ends the session", async () => {
  let expired = 0;
  const { fetch } = fakeFetch(() => answer(401, {}));
  const api = createApi({ fetch, tokens: { access: "A", refresh: "R" }, save() {}, language: () => "en",
    expired: () => { expired += 1; } });
  assert.equal((await api("/api/v1/ops/metrics")).status, 401);
  assert.equal(expired, 1);
});

test("problem answers read as their detail, else title, else status", async () => {
  assert.equal(await problemText(answer(409, { title: "Conflict", detail: "Cannot resume" })), "Cannot resume");
  assert.equal(await problemText(answer(404, { title: "Not found" })), "Not found");
  assert.equal(await problemText({ status: 502, json: async () => { throw new SyntaxError("html"); } }), "502");
});
