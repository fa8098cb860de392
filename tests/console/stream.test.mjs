import assert from "node:assert/strict";
import { test } from "node:test";
import { createParser, follow } from "../../robotaxi_dispatch/console/static/js/stream.js";

const collect = () => { const events = []; return { events, feed: createParser((name, data) => events.push([name, data])) }; };

test("an event split across chunks is dispatched once it is whole", () => {
  const { events, feed } = collect();
  feed("event: fle"); feed("et\ndata: {\"a\":"); assert.deepEqual(events, []);
  feed("1}\n\nevent: metrics\ndata: {}\n\n");
  assert.deepEqual(events, [["fleet", "{\"a\":1}"], ["metrics", "{}"]]);
});

test("comments, CRLF line ends and several data lines", () => {
  const { events, feed } = collect();
  feed(": keep-alive\r\n\r\nevent:fleet\r\ndata: one\r\ndata:two\r\n\r\n");
  assert.deepEqual(events, [["fleet", "one\ntwo"]]);
});

test("an event without a name is a message; one without data is nothing", () => {
  const { events, feed } = collect();
  feed("data: x\n\nevent: ping\n\n");
  assert.deepEqual(events, [["message", "x"]]);
});

test("data keeps colons and spaces after the first one", () => {
  const { events, feed } = collect();
  feed("event: fleet\ndata:  {\"at\": \"12:00\"}\n\n");
  assert.deepEqual(events, [["fleet", " {\"at\": \"12:00\"}"]]);
});

test("follow reads a stream, reports the connection and stops when aborted", async () => {
  const controller = new AbortController(), events = [], states = [];
  const body = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("event: fleet\ndata: 1\n\n")); c.close(); } });
  let calls = 0;
  const api = async (path, { signal }) => {
    calls += 1;
    assert.equal(path, "/api/v1/ops/stream"); assert.equal(signal, controller.signal);
    if (calls > 1) { controller.abort(); const err = new Error("aborted"); err.name = "AbortError"; throw err; }
    return { ok: true, body };
  };
  await follow(api, "/api/v1/ops/stream", { signal: controller.signal, onEvent: (n, d) => events.push([n, d]),
    onState: (on) => states.push(on), retryMs: 1 });
  assert.deepEqual(events, [["fleet", "1"]]);
  assert.deepEqual(states, [true, false]);
  assert.equal(calls, 2, "it reconnected after the stream ended");
});
