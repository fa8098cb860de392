// Server-Sent Events read through fetch, so the token travels in a header and never in a URL.

/** Return a parser that takes text chunks as they arrive and calls onEvent(name, data) per event. */
export function createParser(onEvent) {
  let buffer = "";
  function dispatch(block) {
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;   // a comment keeps the connection alive
      const colon = line.indexOf(":"), field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }
    if (data.length) onEvent(name, data.join("\n"));
  }
  return (chunk) => {
    buffer += chunk.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      dispatch(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  };
}

/**
 * Follow a stream until `signal` aborts: call onEvent per event and onState(true/false) as the
 * connection comes and goes; reconnect after `retryMs`.
 */
export async function follow(api, path, { signal, onEvent, onState, retryMs = 1000 }) {
  while (!signal.aborted) {
    try {
      const res = await api(path, { signal });
      if (!res.ok) throw new Error(String(res.status));
      onState(true);
      const reader = res.body.getReader(), decoder = new TextDecoder(), feed = createParser(onEvent);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        feed(decoder.decode(value, { stream: true }));
      }
    } catch (err) {
      if (err.name === "AbortError") return;
    }
    onState(false);
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}
