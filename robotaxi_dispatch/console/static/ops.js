// The operator console: log in, draw the city and the live fleet, follow KPIs, command vehicles.
"use strict";
(() => {
  // The strings come from the app's message catalogue (translations/, context "console").
  const TEXT = JSON.parse(document.getElementById("messages").textContent);
  const COLOURS = {
    available: "#3fb950", rebalancing: "#7ee2b8", dispatched: "#d29922", on_trip: "#58a6ff", to_charger: "#bc8cff",
    charging: "#a371f7", to_depot: "#8b949e", pulled_over: "#6e7681", fault: "#f85149",
  };
  const $ = (id) => document.getElementById(id);
  const store = window.sessionStorage;
  const state = {
    lang: store.getItem("lang") || (navigator.language.startsWith("zh") ? "zh" : "en"),
    access: store.getItem("access"), refresh: store.getItem("refresh"),
    map: null, areas: null, frame: null, from: null, frameAt: 0, frameGap: 400,
    view: null, base: null, selected: null, history: [], historyTimer: null, abort: null,
  };
  const t = (key) => TEXT[state.lang === "zh" ? "zh-CN" : "en"][key] || key;

  // ---- language ----
  function applyLanguage() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
    $("language").textContent = state.lang === "zh" ? "English" : "中文";
    document.title = t("title");
    $("legend").replaceChildren(...[...Object.entries(COLOURS), ["request", "#f0883e"]].map(([key, colour]) => {
      const item = document.createElement("li"), swatch = document.createElement("i");
      swatch.style.background = colour;   // set through the DOM: the page's CSP refuses inline styles
      item.append(swatch, t(key));
      return item;
    }));
    state.base = null;
    if (state.selected) renderVehicle();
  }

  // ---- API ----
  async function api(path, options = {}) {
    const headers = { "Accept-Language": state.lang === "zh" ? "zh-CN" : "en", ...(options.headers || {}) };
    if (state.access) headers.Authorization = `Bearer ${state.access}`;
    if (options.json) { headers["Content-Type"] = "application/json"; options.body = JSON.stringify(options.json); }
    let res = await fetch(path, { ...options, headers });
    if (res.status === 401 && state.refresh && await refreshTokens()) return api(path, options);
    return res;
  }

  async function refreshTokens() {
    const res = await fetch("/api/v1/auth/refresh", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: state.refresh }) });
    if (!res.ok) { logout(); return false; }
    saveTokens(await res.json());
    return true;
  }

  function saveTokens(pair) {
    state.access = pair.access_token; state.refresh = pair.refresh_token;
    store.setItem("access", pair.access_token); store.setItem("refresh", pair.refresh_token);
  }

  // ---- log in / out ----
  async function login(event) {
    event.preventDefault();
    const form = new FormData(event.target);
    const res = await fetch("/api/v1/auth/login", { method: "POST", headers: { "Content-Type": "application/json",
      "Accept-Language": state.lang === "zh" ? "zh-CN" : "en" },
      body: JSON.stringify({ email: form.get("email"), password: form.get("password") }) });
    const body = await res.json();
    if (!res.ok) { $("login-error").textContent = body.detail || body.title; return; }
    if (!body.user.roles.some((r) => r === "operator" || r === "admin")) { $("login-error").textContent = t("not_operator"); return; }
    saveTokens(body);
    start();
  }

  function logout() {
    if (state.abort) state.abort.abort();
    clearTimeout(state.historyTimer);
    state.access = state.refresh = null; store.removeItem("access"); store.removeItem("refresh");
    $("console").hidden = true; $("logout").hidden = true; $("login").hidden = false;
  }

  async function start() {
    $("login").hidden = true; $("console").hidden = false; $("logout").hidden = false;
    const [map, areas] = await Promise.all([api("/api/v1/ops/map"), api("/api/v1/service-areas")]);
    state.map = await map.json(); state.areas = await areas.json(); state.base = null;
    loadHistory();
    follow();
    requestAnimationFrame(draw);
  }

  // ---- live stream (fetch, so the token travels in a header and never in a URL) ----
  async function follow() {
    while (state.access) {
      state.abort = new AbortController();
      try {
        const res = await api("/api/v1/ops/stream", { signal: state.abort.signal });
        if (!res.ok) throw new Error(String(res.status));
        setConnected(true);
        const reader = res.body.getReader(), decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) { handleEvent(buffer.slice(0, end)); buffer = buffer.slice(end + 2); }
        }
      } catch (err) { if (err.name === "AbortError") return; }
      setConnected(false);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  function setConnected(on) {
    const badge = $("connection");
    badge.classList.toggle("on", on); badge.dataset.i18n = on ? "live" : "offline"; badge.textContent = t(badge.dataset.i18n);
  }

  function handleEvent(chunk) {
    let name = "message", data = "";
    for (const line of chunk.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data += line.slice(5).trim();
    }
    if (name === "fleet") takeFrame(JSON.parse(data));
    else if (name === "metrics") showMetrics(JSON.parse(data));
  }

  function takeFrame(frame) {
    // Vehicles glide from where they are drawn now to the new positions over one frame gap.
    const now = performance.now(), previous = state.frame, v = frame.vehicles;
    const drawn = previous ? positionsAt(now) : null;
    const from = (fresh, shown) => fresh.map((value, i) => {
      const j = previous ? previous.byId.get(v.id[i]) : undefined;
      return j === undefined ? value : shown[j];   // a vehicle new to the map starts where it is
    });
    frame.fromLat = from(v.lat, drawn && drawn.lat);
    frame.fromLon = from(v.lon, drawn && drawn.lon);
    if (state.frameAt) state.frameGap = Math.min(2000, Math.max(100, now - state.frameAt));
    state.frame = frame; state.frameAt = now;
    frame.byId = new Map(v.id.map((id, i) => [id, i]));
    if (!state.view) fitView();
    $("kpi-vehicles").textContent = v.id.length;
    showLowBattery(frame);
    if (state.selected) renderVehicle();
  }

  function positionsAt(now) {
    const f = state.frame, k = Math.min(1, (now - state.frameAt) / state.frameGap);
    return { lat: f.vehicles.lat.map((lat, i) => f.fromLat[i] + (lat - f.fromLat[i]) * k),
             lon: f.vehicles.lon.map((lon, i) => f.fromLon[i] + (lon - f.fromLon[i]) * k) };
  }

  // ---- KPIs and the last hour's chart ----
  function showMetrics(m) {
    const secs = (s) => (s == null ? "–" : `${Math.round(s)} s`);
    const pct = (x) => (x == null ? "–" : `${Math.round(x * 100)}%`);
    $("kpi-open_requests").textContent = m.open_requests;
    $("kpi-mean_pickup_wait_s").textContent = secs(m.mean_pickup_wait_s);
    $("kpi-p95_pickup_wait_s").textContent = secs(m.p95_pickup_wait_s);
    $("kpi-utilisation").textContent = pct(m.utilisation);
    $("kpi-served_share").textContent = pct(m.served_share);
  }

  async function loadHistory() {
    const res = await api("/api/v1/ops/metrics/history");
    if (res.ok) { state.history = (await res.json()).buckets; drawChart(); }
    state.historyTimer = setTimeout(loadHistory, 60000);
  }

  function drawChart() {
    const c = $("chart"), ctx = c.getContext("2d"), h = state.history, w = c.width / Math.max(1, h.length);
    ctx.clearRect(0, 0, c.width, c.height);
    const top = Math.max(1, ...h.map((b) => b.requests)), wait = Math.max(1, ...h.map((b) => b.mean_pickup_wait_s || 0));
    ctx.fillStyle = "#1f6feb";
    h.forEach((b, i) => { const bh = (b.requests / top) * (c.height - 10); ctx.fillRect(i * w + 2, c.height - bh, w - 4, bh); });
    ctx.strokeStyle = "#f0883e"; ctx.lineWidth = 2; ctx.beginPath();
    h.forEach((b, i) => { if (b.mean_pickup_wait_s == null) return;
      const y = c.height - (b.mean_pickup_wait_s / wait) * (c.height - 10);
      ctx.lineTo(i * w + w / 2, y); });
    ctx.stroke();
  }

  function showLowBattery(frame) {
    const v = frame.vehicles, low = v.id.map((id, i) => [id, v.soc[i]]).filter(([, s]) => s != null && s < frame.low_soc)
      .sort((a, b) => a[1] - b[1]);
    $("low-count").textContent = low.length;
    $("low-list").innerHTML = low.slice(0, 30).map(([id, s]) => `<li data-id="${id}">#${id} · ${s.toFixed(0)}%</li>`).join("");
  }

  // ---- the selected vehicle ----
  async function select(id) {
    const res = await api(`/api/v1/ops/vehicles/${id}`);
    if (!res.ok) { $("command-result").textContent = t("not_found"); return; }
    state.selected = await res.json();
    $("vehicle").hidden = false; $("command-result").textContent = "";
    renderVehicle();
  }

  function renderVehicle() {
    const s = state.selected, f = state.frame, i = f && f.byId.get(s.id);
    if (i !== undefined && i !== null) {
      s.status = f.statuses[f.vehicles.status[i]]; s.soc = f.vehicles.soc[i];
      s.position = { lat: f.vehicles.lat[i], lon: f.vehicles.lon[i] };
      if ((f.vehicles.ride[i] || null) !== (s.ride ? s.ride.id : null)) refreshSelected();
    }
    $("v-id").textContent = `#${s.id}`; $("v-plate").textContent = s.plate;
    $("v-status").textContent = t(s.status); $("v-status").dataset.status = s.status;
    $("v-soc").textContent = s.soc == null ? "–" : `${s.soc.toFixed(0)}%`;
    $("v-position").textContent = s.position ? `${s.position.lat.toFixed(5)}, ${s.position.lon.toFixed(5)}` : "–";
    $("v-ride").textContent = s.ride ? `#${s.ride.id} · ${s.ride.status} · ${s.ride.passengers}` : t("none");
  }

  let refreshing = false;
  async function refreshSelected() {
    if (refreshing) return;
    refreshing = true;
    const res = await api(`/api/v1/ops/vehicles/${state.selected.id}`);
    if (res.ok) state.selected.ride = (await res.json()).ride;
    refreshing = false;
  }

  async function command(name) {
    const res = await api(`/api/v1/ops/vehicles/${state.selected.id}/commands`, { method: "POST", json: { command: name } });
    const body = await res.json();
    if (!res.ok) { $("command-result").textContent = body.detail || body.title; return; }
    $("command-result").textContent = `${t("sent")}: ${t(name)}`;
    Object.assign(state.selected, { status: body.status, ride_id: body.ride_id });
    if (state.frame && state.frame.byId.has(body.id)) {
      state.frame.vehicles.status[state.frame.byId.get(body.id)] = state.frame.statuses.indexOf(body.status);
    }
    renderVehicle();
  }

  // ---- the map ----
  const canvas = $("map");
  function project(lat, lon) {
    const v = state.view;
    return [canvas.width / 2 + (lon - v.lon) * v.cos * v.scale, canvas.height / 2 - (lat - v.lat) * v.scale];
  }

  function fitView() {
    const v = state.frame.vehicles;
    const lats = v.lat.length ? v.lat : [29.56], lons = v.lon.length ? v.lon : [106.55];
    const south = Math.min(...lats), north = Math.max(...lats), west = Math.min(...lons), east = Math.max(...lons);
    const lat = (south + north) / 2, cos = Math.cos((lat * Math.PI) / 180);
    const scale = 0.85 * Math.min(canvas.width / Math.max(0.02, (east - west) * cos), canvas.height / Math.max(0.02, north - south));
    state.view = { lat, lon: (west + east) / 2, cos, scale };
    state.base = null;
  }

  function drawBase() {
    const base = document.createElement("canvas");
    base.width = canvas.width; base.height = canvas.height;
    const ctx = base.getContext("2d"), metresPerPx = 111195 / state.view.scale;
    const path = (coords) => { ctx.beginPath(); coords.forEach(([lon, lat], i) => { const [x, y] = project(lat, lon); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); }); };
    ctx.font = "12px system-ui"; ctx.textAlign = "center";
    for (const f of state.map.features) {
      const g = f.geometry;
      if (f.properties.kind === "district") {
        g.coordinates.forEach((poly) => { path(poly[0]); ctx.closePath(); ctx.fillStyle = "#1b2733"; ctx.fill();
          ctx.strokeStyle = "#33475b"; ctx.lineWidth = 1; ctx.stroke(); });
        const ring = g.coordinates[0][0], [x, y] = project(ring.reduce((a, p) => a + p[1], 0) / ring.length,
          ring.reduce((a, p) => a + p[0], 0) / ring.length);
        ctx.fillStyle = "#6e7f91"; ctx.fillText(state.lang === "zh" ? f.properties.name_zh : f.properties.name_en, x, y);
      } else if (f.properties.kind === "river") {
        path(g.coordinates); ctx.strokeStyle = "#1f4e79"; ctx.lineJoin = "round"; ctx.lineCap = "round";
        ctx.lineWidth = Math.max(2, (2 * f.properties.half_width_m) / metresPerPx); ctx.stroke();
      }
    }
    for (const f of state.map.features.filter((x) => x.properties.kind === "bridge")) {
      const [x, y] = project(f.geometry.coordinates[1], f.geometry.coordinates[0]);
      ctx.fillStyle = "#c9d1d9"; ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
    }
    for (const a of state.areas.features) {
      path(a.geometry.coordinates[0]); ctx.closePath(); ctx.fillStyle = "rgba(63,185,80,0.08)"; ctx.fill();
      ctx.setLineDash([6, 4]); ctx.strokeStyle = "#3fb950"; ctx.lineWidth = 1.5; ctx.stroke(); ctx.setLineDash([]);
    }
    state.base = base;
  }

  function draw(now) {
    if (!state.access) return;
    const ratio = window.devicePixelRatio || 1, w = canvas.clientWidth * ratio, h = canvas.clientHeight * ratio;
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; state.base = null; }
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#0f1720"; ctx.fillRect(0, 0, w, h);
    if (state.frame && state.view) {
      if (!state.base) drawBase();
      ctx.drawImage(state.base, 0, 0);
      drawFleet(ctx, now);
    }
    requestAnimationFrame(draw);
  }

  function drawFleet(ctx, now) {
    const f = state.frame, v = f.vehicles, at = positionsAt(now), size = 4;
    ctx.fillStyle = "#f0883e";
    for (const r of f.requests) { const [x, y] = project(r.lat, r.lon); ctx.fillRect(x - 3, y - 3, 6, 6); }
    f.statuses.forEach((status, code) => {   // one path per colour: thousands of vehicles stay cheap
      ctx.fillStyle = COLOURS[status]; ctx.beginPath();
      for (let i = 0; i < v.id.length; i++) {
        if (v.status[i] !== code) continue;
        const [x, y] = project(at.lat[i], at.lon[i]); ctx.rect(x - size / 2, y - size / 2, size, size);
      }
      ctx.fill();
    });
    ctx.strokeStyle = "#f85149"; ctx.lineWidth = 1.5; ctx.beginPath();
    for (let i = 0; i < v.id.length; i++) {
      if (v.soc[i] == null || v.soc[i] >= f.low_soc) continue;
      const [x, y] = project(at.lat[i], at.lon[i]); ctx.moveTo(x + 5, y); ctx.arc(x, y, 5, 0, 2 * Math.PI);
    }
    ctx.stroke();
    const i = state.selected ? f.byId.get(state.selected.id) : undefined;
    if (i !== undefined) {
      const [x, y] = project(at.lat[i], at.lon[i]);
      ctx.strokeStyle = "#ffffff"; ctx.lineWidth = 2; ctx.beginPath(); ctx.arc(x, y, 9, 0, 2 * Math.PI); ctx.stroke();
    }
  }

  function vehicleAt(px, py) {
    const f = state.frame, at = positionsAt(performance.now());
    let best = null, bestD = 12 * 12;
    for (let i = 0; i < f.vehicles.id.length; i++) {
      const [x, y] = project(at.lat[i], at.lon[i]), d = (x - px) ** 2 + (y - py) ** 2;
      if (d < bestD) { best = f.vehicles.id[i]; bestD = d; }
    }
    return best;
  }

  // ---- pan, zoom, pick ----
  let drag = null;
  canvas.addEventListener("mousedown", (e) => { drag = { x: e.clientX, y: e.clientY, moved: false }; });
  window.addEventListener("mouseup", (e) => {
    if (drag && !drag.moved && state.frame) {
      const r = canvas.getBoundingClientRect(), ratio = canvas.width / r.width;
      const id = vehicleAt((e.clientX - r.left) * ratio, (e.clientY - r.top) * ratio);
      if (id !== null) select(id);
    }
    drag = null;
  });
  window.addEventListener("mousemove", (e) => {
    if (!drag || !state.view) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y, ratio = canvas.width / canvas.clientWidth;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    if (!drag.moved) return;
    state.view.lon -= (dx * ratio) / (state.view.scale * state.view.cos); state.view.lat += (dy * ratio) / state.view.scale;
    drag.x = e.clientX; drag.y = e.clientY; state.base = null;
  });
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    if (state.view) { state.view.scale *= e.deltaY < 0 ? 1.2 : 1 / 1.2; state.base = null; }
  }, { passive: false });

  // ---- wiring ----
  $("login").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("language").addEventListener("click", () => { state.lang = state.lang === "zh" ? "en" : "zh"; store.setItem("lang", state.lang); applyLanguage(); });
  $("find").addEventListener("submit", (e) => { e.preventDefault(); const id = parseInt($("find-id").value, 10); if (id > 0) select(id); });
  $("low-list").addEventListener("click", (e) => { if (e.target.dataset.id) select(Number(e.target.dataset.id)); });
  document.querySelectorAll("[data-command]").forEach((b) => b.addEventListener("click", () => command(b.dataset.command)));
  applyLanguage();
  if (state.access) start();
})();
