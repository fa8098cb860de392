// Calls to the platform's API with the operator's tokens; a 401 refreshes them once.

/**
 * Make the console's API client.
 * `tokens` holds {access, refresh} and is saved through `save`; `language()` names the UI language;
 * `expired()` is called when the refresh token is refused too.
 */
export function createApi({ fetch, tokens, save, language, expired }) {
  async function refresh() {
    const res = await fetch("/api/v1/auth/refresh", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: tokens.refresh }) });
    if (!res.ok) { expired(); return false; }
    const pair = await res.json();
    save({ access: pair.access_token, refresh: pair.refresh_token });
    return true;
  }

  async function call(path, { json, headers = {}, ...options } = {}) {
    const sent = { "Accept-Language": language(), ...headers };
    if (tokens.access) sent.Authorization = `Bearer ${tokens.access}`;
    if (json !== undefined) { sent["Content-Type"] = "application/json"; options.body = JSON.stringify(json); }
    const res = await fetch(path, { ...options, headers: sent });
    if (res.status === 401 && tokens.refresh && await refresh()) return call(path, { json, headers, ...options });
    return res;
  }
  return call;
}

/** Return a problem+json answer's message for people: its detail, else its title. */
export async function problemText(res) {
  try {
    const body = await res.json();
    return body.detail || body.title || String(res.status);
  } catch {
    return String(res.status);
  }
}
