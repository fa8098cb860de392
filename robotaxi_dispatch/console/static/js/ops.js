// The operator console: log in, watch every region's fleet live, follow KPIs and alerts, command vehicles.
import { alertKey, alertText, collectAlerts, newAlerts } from "./alerts.js";
import { createApi, problemText } from "./api.js";
import { chartLayout, drawChart } from "./charts.js";
import { LANGUAGES, initialLanguage, translator } from "./i18n.js";
import { glide } from "./interpolate.js";
import { drawBase, drawLive, layoutViews, mainRegion, regionBounds, vehicleAt } from "./map.js";
import { COLOURS, MOVE, REQUEST, UNSERVED } from "./markers.js";
import { kpiTexts, liveVehicle, lowBattery, parseVehicleId, vehicleTexts } from "./panel.js";
import { contains, pan, zoomAt } from "./projection.js";
import { follow } from "./stream.js";
import { actionFor, keysByAction } from "./shortcuts.js";

const $ = (id) => document.getElementById(id);
const CATALOGUE = JSON.parse($("messages").textContent);
const store = window.sessionStorage;
const canvas = $("map");
const state = {
  lang: initialLanguage(store.getItem("lang"), navigator.language),
  tokens: { access: store.getItem("access"), refresh: store.getItem("refresh") },
  city: null, areas: [], entries: new Map(), views: [], moved: false, fleetOnly: false, base: null,
  layers: { heatmap: true, moves: true }, selected: null, findError: null, result: null,
  history: [], historyTimer: null, abort: null, seen: new Set(),
};
let t = translator(CATALOGUE, state.lang);

function saveTokens(pair) {
  Object.assign(state.tokens, pair); store.setItem("access", pair.access); store.setItem("refresh", pair.refresh);
}

const api = createApi({ fetch: (...args) => window.fetch(...args), tokens: state.tokens, save: saveTokens,
  language: () => LANGUAGES[state.lang], expired: () => logout() });

// ---- language ----
function applyLanguage() {
  t = translator(CATALOGUE, state.lang);
  document.documentElement.lang = LANGUAGES[state.lang];
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  document.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); el.ariaLabel = el.title; });
  $("language").textContent = state.lang === "zh" ? "English" : "中文";
  document.title = t("title");
  showLegend(); showHelp(); showAlerts(); showFindError(); showResult();
  state.base = null;
  if (state.selected) showVehicle();
  if (state.history.length) showChart();
}

function swatchItem(colour, label, shape = "dot") {
  const item = document.createElement("li"), swatch = document.createElement("i");
  swatch.className = shape; swatch.style.setProperty("--c", colour);   // through the DOM: the CSP refuses inline styles
  item.append(swatch, label);
  return item;
}

function showLegend() {
  const statuses = Object.entries(COLOURS).map(([status, colour]) => swatchItem(colour, t(status), "arrow"));
  $("legend-items").replaceChildren(...statuses, swatchItem(REQUEST, t("request"), "diamond"),
    swatchItem(UNSERVED, t("unserved"), "cross"), swatchItem(MOVE, t("move"), "dash"),
    swatchItem("rgba(255,90,40,0.6)", t("demand"), "square"));
}

function showHelp() {
  $("help-list").replaceChildren(...keysByAction().flatMap(([action, keys]) => {
    const dt = document.createElement("dt"), dd = document.createElement("dd"), kbd = document.createElement("kbd");
    kbd.textContent = keys; dt.append(kbd);
    dd.textContent = t(`key_${action}`);
    return [dt, dd];
  }));
}

// ---- log in / out ----
async function login(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const res = await api("/api/v1/auth/login", { method: "POST", json: { email: form.get("email"), password: form.get("password") } });
  if (!res.ok) { $("login-error").textContent = await problemText(res); return; }
  const body = await res.json();
  if (!body.user.roles.some((r) => r === "operator" || r === "admin")) { $("login-error").textContent = t("not_operator"); return; }
  saveTokens({ access: body.access_token, refresh: body.refresh_token });
  start();
}

function logout() {
  if (state.abort) state.abort.abort();
  clearTimeout(state.historyTimer);
  Object.assign(state.tokens, { access: null, refresh: null }); store.removeItem("access"); store.removeItem("refresh");
  state.entries.clear(); state.selected = null;
  $("console").hidden = true; $("logout").hidden = true; $("login").hidden = false;
}

async function start() {
  $("login").hidden = true; $("console").hidden = false; $("logout").hidden = false;
  const [city, areas] = await Promise.all([api("/api/v1/ops/map"), api("/api/v1/service-areas")]);
  state.city = await city.json(); state.areas = (await areas.json()).features; state.base = null;
  loadHistory();
  state.abort = new AbortController();
  follow(api, "/api/v1/ops/stream", { signal: state.abort.signal, onEvent, onState: setConnected });
  requestAnimationFrame(draw);
}

function setConnected(on) {
  const badge = $("connection");
  badge.classList.toggle("on", on); badge.dataset.i18n = on ? "live" : "offline"; badge.textContent = t(badge.dataset.i18n);
}

// ---- the stream ----
function onEvent(name, data) {
  if (name === "fleet") takeFrame(JSON.parse(data));
  else if (name === "metrics") showMetrics(JSON.parse(data));
}

function takeFrame(frame) {
  const known = state.entries.has(frame.region);
  state.entries.set(frame.region, glide(state.entries.get(frame.region), frame, performance.now()));
  if (!known && !state.moved) state.views = [];   // a region heard of for the first time: lay out again
  const entries = [...state.entries.values()];
  $("kpi-vehicles").textContent = entries.reduce((n, e) => n + e.frame.vehicles.id.length, 0);
  showLowBattery(entries);
  showAlerts();
  if (state.selected) showVehicle();
}

// ---- KPIs and the last hour's chart ----
function showMetrics(m) {
  for (const [key, text] of Object.entries(kpiTexts(m, t))) $(`kpi-${key}`).textContent = text;
}

async function loadHistory() {
  const res = await api("/api/v1/ops/metrics/history");
  if (res.ok) { state.history = (await res.json()).buckets; showChart(); }
  state.historyTimer = setTimeout(loadHistory, 60000);
}

function showChart() {
  const c = $("chart"), ratio = window.devicePixelRatio || 1, ctx = c.getContext("2d");
  c.width = c.clientWidth * ratio; c.height = c.clientHeight * ratio;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, c.clientWidth, c.clientHeight);
  drawChart(ctx, chartLayout(state.history, { width: c.clientWidth, height: c.clientHeight }),
    { bars: "#2f6fde", line: "#ffa600", axis: "#5b6b7c", ink: "#9aa7b4" });
}

function showLowBattery(entries) {
  const low = lowBattery(entries);
  $("low-count").textContent = low.length;
  $("low-list").replaceChildren(...low.slice(0, 30).map(([id, soc]) => vehicleButton(id, `#${id} · ${Math.round(soc)}%`)));
}

function vehicleButton(id, text) {
  const item = document.createElement("li"), button = document.createElement("button");
  button.type = "button"; button.dataset.id = id; button.textContent = text; item.append(button);
  return item;
}

// ---- alerts ----
function showAlerts() {
  const alerts = collectAlerts([...state.entries.values()].map((e) => e.frame));
  const { fresh, keys } = newAlerts(alerts, state.seen);
  state.seen = keys;
  $("alert-count").textContent = alerts.length;
  $("alert-badge").textContent = alerts.length;
  $("alert-badge").hidden = alerts.length === 0;
  $("alerts").classList.toggle("flash", fresh.length > 0);
  $("alert-list").replaceChildren(...alerts.slice(0, 50).map((a) => {
    const item = vehicleButton(a.vehicle, alertText(a, t));
    item.className = a.kind; item.dataset.key = alertKey(a);
    return item;
  }));
}

// ---- the selected vehicle ----
async function select(id) {
  const res = await api(`/api/v1/ops/vehicles/${id}`);
  if (!res.ok) {   // an unknown id clears the vehicle shown before: it is not what was asked for
    state.selected = null; $("vehicle").hidden = true;
    state.findError = res.status === 404 || res.status === 403 ? { key: "not_found" } : { text: await problemText(res) };
    showFindError();
    return;
  }
  state.selected = await res.json(); state.findError = null; state.result = null;
  $("vehicle").hidden = false;
  showFindError(); showResult(); showVehicle();
}

function showFindError() {
  const e = state.findError;
  $("find-error").textContent = e ? (e.key ? t(e.key) : e.text) : "";
}

function showResult() {
  const r = state.result;
  $("command-result").textContent = r ? (r.command ? `${t("sent")}: ${t(r.command)}` : r.text) : "";
}

function close() {
  state.selected = null; state.result = null; $("vehicle").hidden = true;
}

function showVehicle() {
  const vehicle = liveVehicle(state.selected, [...state.entries.values()]);
  if ((vehicle.rideId ?? null) !== (state.selected.ride ? state.selected.ride.id : null)) refreshSelected();
  const texts = vehicleTexts(vehicle, t);
  for (const [key, text] of Object.entries(texts)) $(`v-${key}`).textContent = text;
  $("v-status").dataset.status = vehicle.status;
}

let refreshing = false;
async function refreshSelected() {
  if (refreshing) return;
  refreshing = true;
  const id = state.selected.id, res = await api(`/api/v1/ops/vehicles/${id}`);
  if (res.ok && state.selected && state.selected.id === id) state.selected.ride = (await res.json()).ride;
  refreshing = false;
}

async function command(name) {
  const id = state.selected.id;
  const res = await api(`/api/v1/ops/vehicles/${id}/commands`, { method: "POST", json: { command: name } });
  if (!res.ok) { state.result = { text: await problemText(res) }; showResult(); return; }
  const body = await res.json();
  state.result = { command: name }; showResult();
  Object.assign(state.selected, { status: body.status });
  for (const { frame, byId } of state.entries.values()) {   // until the next frame says so too
    if (byId.has(body.id)) frame.vehicles.status[byId.get(body.id)] = frame.statuses.indexOf(body.status);
  }
  showVehicle();
}

// ---- the map ----
function ratio() { return window.devicePixelRatio || 1; }

function layout() {
  const entries = [...state.entries.values()];
  const fleets = new Map(entries.map(({ frame: f }) => [f.region, f.vehicles.lon.map((lon, i) => [lon, f.vehicles.lat[i]])]));
  const districts = state.city.features.filter((f) => f.properties.kind === "district");
  const bounds = regionBounds(districts, state.areas, fleets, state.fleetOnly);
  state.views = layoutViews(bounds, mainRegion(bounds, fleets), { width: canvas.width, height: canvas.height });
  state.base = null;
}

function drawBaseLayer() {
  const base = document.createElement("canvas");
  base.width = canvas.width; base.height = canvas.height;
  const ctx = base.getContext("2d");
  for (const view of state.views) {
    drawBase(ctx, view, { city: state.city, areas: state.areas.filter((a) => !view.inset || a.properties.region === view.region),
      lang: state.lang, scale: ratio() });
  }
  state.base = base;
}

function draw(now) {
  if (!state.tokens.access) return;
  const w = Math.round(canvas.clientWidth * ratio()), h = Math.round(canvas.clientHeight * ratio());
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; state.moved = false; state.views = []; }
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#0f1720"; ctx.fillRect(0, 0, w, h);
  if (state.city && state.entries.size && w > 0) {
    if (!state.views.length) layout();
    if (!state.base) drawBaseLayer();
    const [main, ...insets] = state.views;
    ctx.drawImage(state.base, 0, 0);
    const options = { layers: state.layers, selected: state.selected && state.selected.id, scale: ratio() };
    for (const entry of state.entries.values()) drawLive(ctx, main, entry, now, options);
    for (const view of insets) {
      ctx.drawImage(state.base, view.rect.x, view.rect.y, view.rect.w, view.rect.h, view.rect.x, view.rect.y, view.rect.w, view.rect.h);
      const entry = state.entries.get(view.region);
      if (entry) drawLive(ctx, view, entry, now, options);
      ctx.fillStyle = "#9aa7b4"; ctx.font = `${11 * ratio()}px system-ui, "Noto Sans CJK SC", sans-serif`; ctx.textAlign = "left";
      const area = state.areas.find((a) => a.properties.region === view.region);
      ctx.fillText(area ? (state.lang === "zh" ? area.properties.name_zh : area.properties.name_en) : view.region,
        view.rect.x + 6 * ratio(), view.rect.y + 14 * ratio());
    }
  }
  requestAnimationFrame(draw);
}

function changeMain(change) {
  if (!state.views.length) return;
  state.views[0] = change(state.views[0]); state.moved = true; state.base = null;
}

function fitMap(fleetOnly) {
  state.fleetOnly = fleetOnly; state.moved = false; state.views = [];
}

function pixel(e) {
  const r = canvas.getBoundingClientRect();
  return [(e.clientX - r.left) * ratio(), (e.clientY - r.top) * ratio()];
}

let drag = null;
canvas.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY, moved: false }; });
window.addEventListener("pointerup", (e) => {
  if (drag && !drag.moved && state.views.length) {
    const [x, y] = pixel(e), view = [...state.views].reverse().find((v) => contains(v, x, y));
    const entries = view && view.inset ? [state.entries.get(view.region)].filter(Boolean) : [...state.entries.values()];
    const id = view ? vehicleAt(view, entries, performance.now(), x, y, 16 * ratio()) : null;
    if (id !== null) select(id);
  }
  drag = null;
});
window.addEventListener("pointermove", (e) => {
  if (!drag) return;
  const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
  if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
  if (!drag.moved) return;
  changeMain((v) => pan(v, dx * ratio(), dy * ratio()));
  drag.x = e.clientX; drag.y = e.clientY;
});
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  const [x, y] = pixel(e);
  changeMain((v) => zoomAt(v, e.deltaY < 0 ? 1.25 : 1 / 1.25, x, y));
}, { passive: false });

const centre = () => [canvas.width / 2, canvas.height / 2];
const ACTIONS = {
  find: () => $("find-id").focus(),
  fit: () => fitMap(!state.fleetOnly),
  zoom_in: () => changeMain((v) => zoomAt(v, 1.25, ...centre())),
  zoom_out: () => changeMain((v) => zoomAt(v, 1 / 1.25, ...centre())),
  pan_left: () => changeMain((v) => pan(v, 80 * ratio(), 0)),
  pan_right: () => changeMain((v) => pan(v, -80 * ratio(), 0)),
  pan_up: () => changeMain((v) => pan(v, 0, 80 * ratio())),
  pan_down: () => changeMain((v) => pan(v, 0, -80 * ratio())),
  heatmap: () => toggleLayer("heatmap"),
  moves: () => toggleLayer("moves"),
  alerts: () => { const first = $("alert-list").querySelector("button"); $("alerts").scrollIntoView(); if (first) first.focus(); },
  language: () => switchLanguage(),
  close: () => { close(); document.activeElement.blur(); $("help").open = false; },
  help: () => { $("help").open = !$("help").open; },
};

function toggleLayer(name) {
  state.layers[name] = !state.layers[name];
  $(`layer-${name}`).checked = state.layers[name];
}

function switchLanguage() {
  state.lang = state.lang === "zh" ? "en" : "zh"; store.setItem("lang", state.lang); applyLanguage();
}

// ---- wiring ----
$("login").addEventListener("submit", login);
$("logout").addEventListener("click", logout);
$("language").addEventListener("click", switchLanguage);
$("find").addEventListener("submit", (e) => {
  e.preventDefault();
  const id = parseVehicleId($("find-id").value);
  if (id === null) { state.selected = null; $("vehicle").hidden = true; state.findError = { key: "not_found" }; showFindError(); return; }
  select(id);
});
for (const list of ["low-list", "alert-list"]) {
  $(list).addEventListener("click", (e) => { const id = e.target.closest("[data-id]"); if (id) select(Number(id.dataset.id)); });
}
document.querySelectorAll("[data-command]").forEach((b) => b.addEventListener("click", () => command(b.dataset.command)));
document.querySelectorAll("[data-action]").forEach((b) => b.addEventListener("click", () => ACTIONS[b.dataset.action]()));
for (const name of Object.keys(state.layers)) $(`layer-${name}`).addEventListener("change", (e) => { state.layers[name] = e.target.checked; });
document.addEventListener("keydown", (e) => {
  if (!state.tokens.access) return;
  const action = actionFor(e);
  if (action) { e.preventDefault(); ACTIONS[action](); }
});
window.addEventListener("resize", () => { if (state.history.length) showChart(); });
const phone = window.matchMedia("(max-width: 720px)");   // the legend folds away where it would hide the map
$("legend").open = !phone.matches;
phone.addEventListener("change", () => { $("legend").open = !phone.matches; });
applyLanguage();
if (state.tokens.access) start();
