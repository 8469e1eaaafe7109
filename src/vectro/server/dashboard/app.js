// vectro dashboard: plain JavaScript over the REST API (no build step, nothing from a CDN).
"use strict";

const KEY = "vectro-api-key"; // sessionStorage only: gone when the tab closes
const COLOURS = ["#2f5fb3", "#d9822b", "#3a9a5b", "#b3261e", "#7b4bb7", "#8c6d31", "#d45fa0", "#4f9fb8",
                 "#6b7a8f", "#a3a319"];
const $ = (id) => document.getElementById(id);
const state = { collections: [], cursors: [null], page: 0 };

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem(KEY);
  if (key) headers["Authorization"] = "Bearer " + key;
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await resp.json().catch(() => ({}));
  if (resp.status === 401) { askForKey("the key was refused: " + message(data)); throw new Error(message(data)); }
  if (!resp.ok) throw new Error(message(data) || resp.statusText);
  return data;
}

function message(data) { return (data && data.error && data.error.message) || (data && data.message) || ""; }
function showError(err) { $("error").textContent = err ? String(err.message || err) : ""; }

function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(Math.round(n))) + " " + units[i];
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function askForKey(problem) {
  sessionStorage.removeItem(KEY);
  $("main").hidden = true;
  $("key-panel").hidden = false;
  $("key-error").textContent = problem || "";
}

async function start() {
  const health = await fetch("/health").then((r) => r.json());
  $("server-info").textContent = "version " + health.version + (health.auth ? " · API keys required" : " · open (loopback)");
  $("forget-key").hidden = !health.auth;
  if (health.auth && !sessionStorage.getItem(KEY)) { askForKey(""); return; }
  $("key-panel").hidden = true;
  $("main").hidden = false;
  await loadCollections();
}

async function loadCollections() {
  const data = await api("GET", "/collections");
  state.collections = data.collections;
  const body = $("collections").querySelector("tbody");
  body.textContent = "";
  const select = $("collection");
  const chosen = select.value;
  select.textContent = "";
  for (const c of state.collections) {
    const row = document.createElement("tr");
    cell(row, c.name);
    cell(row, c.count.toLocaleString(), "num");
    cell(row, String(c.dimension), "num");
    cell(row, c.model || "—");
    cell(row, c.codec.in_effect + (c.codec.in_effect !== c.codec.spec ? " (→ " + c.codec.spec + ")" : ""));
    cell(row, bytes(c.ram_bytes), "num");
    cell(row, bytes(c.disk_bytes), "num");
    cell(row, bytes(c.count * c.dimension * 4), "num");
    cell(row, c.compression_ratio.toFixed(2) + "×", "num");
    row.dataset.name = c.name;
    body.appendChild(row);
    const option = document.createElement("option");
    option.value = option.textContent = c.name;
    select.appendChild(option);
  }
  if (chosen && state.collections.some((c) => c.name === chosen)) select.value = chosen;
  drawSavedChart();
  collectionChanged();
}

function drawSavedChart() {
  const svg = $("saved-chart");
  const NS = "http://www.w3.org/2000/svg";
  // what the codec saves: float32 originals minus the codes (RAM also holds index overhead, shown in the table)
  const rows = state.collections.map((c) => ({ name: c.name,
                                               saved: c.count * (c.dimension * 4 - c.codec.bytes_per_vector) }));
  const height = 26 * Math.max(rows.length, 1) + 10;
  svg.setAttribute("viewBox", "0 0 640 " + height);
  svg.setAttribute("width", "640");
  svg.setAttribute("height", String(height));
  svg.textContent = "";
  const most = Math.max(1, ...rows.map((r) => r.saved));
  rows.forEach((r, i) => {
    const y = 6 + i * 26;
    const label = document.createElementNS(NS, "text");
    label.setAttribute("x", "0"); label.setAttribute("y", String(y + 14)); label.textContent = r.name;
    const bar = document.createElementNS(NS, "rect");
    bar.setAttribute("x", "140"); bar.setAttribute("y", String(y)); bar.setAttribute("height", "18");
    bar.setAttribute("width", String(Math.max(1, (r.saved / most) * 380))); bar.setAttribute("fill", COLOURS[0]);
    bar.setAttribute("class", "saved-bar"); bar.dataset.name = r.name; bar.dataset.saved = String(r.saved);
    const value = document.createElementNS(NS, "text");
    value.setAttribute("x", String(146 + (r.saved / most) * 380)); value.setAttribute("y", String(y + 14));
    value.textContent = bytes(r.saved) + " saved";
    svg.append(label, bar, value);
  });
}

function current() { return $("collection").value; }

function collectionChanged() {
  for (const row of $("collections").querySelectorAll("tbody tr")) row.classList.toggle("selected", row.dataset.name === current());
  state.cursors = [null];
  state.page = 0;
  $("hits").textContent = "";
  $("search-status").textContent = "";
  if (current()) loadPage().catch(showError);
}

function describe(payload) {
  if (!payload) return "";
  if (typeof payload.text === "string") return payload.text;
  return JSON.stringify(payload);
}

async function search(event) {
  event.preventDefault();
  showError();
  const raw = $("search-input").value.trim();
  const k = parseInt($("search-k").value, 10) || 5;
  const body = { k };
  if (raw.startsWith("[")) {
    try { body.vector = JSON.parse(raw); } catch (e) { showError("the vector is not valid JSON: " + e.message); return; }
  } else {
    body.text = raw;
  }
  $("search-status").textContent = "searching…";
  try {
    const data = await api("POST", "/collections/" + encodeURIComponent(current()) + "/search", body);
    const list = $("hits");
    list.textContent = "";
    for (const hit of data.results) {
      const li = document.createElement("li");
      li.className = "hit";
      const score = document.createElement("span"); score.className = "score"; score.textContent = hit.score.toFixed(4);
      const id = document.createElement("span"); id.className = "hit-id"; id.textContent = hit.id;
      const text = document.createElement("span"); text.className = "hit-text"; text.textContent = describe(hit.payload);
      li.append(score, id, text);
      list.appendChild(li);
    }
    $("search-status").textContent = data.results.length + " hits in " + data.took_ms + " ms";
  } catch (err) {
    $("search-status").textContent = "";
    showError(err);
  }
}

const PAGE = 10;

async function loadPage() {
  const data = await api("POST", "/collections/" + encodeURIComponent(current()) + "/records/scroll",
                         { limit: PAGE, cursor: state.cursors[state.page] });
  const body = $("records").querySelector("tbody");
  body.textContent = "";
  for (const rec of data.records) {
    const row = document.createElement("tr");
    cell(row, rec.id);
    cell(row, describe(rec.payload));
    body.appendChild(row);
  }
  state.cursors[state.page + 1] = data.next_cursor;
  $("prev-page").disabled = state.page === 0;
  $("next-page").disabled = !data.next_cursor;
  $("page-info").textContent = "page " + (state.page + 1);
}

async function drawMap(event) {
  if (event) event.preventDefault();
  showError();
  const params = new URLSearchParams({ color_by: $("map-color").value.trim() || "kmeans", k: $("map-k").value,
                                       sample: $("map-sample").value });
  $("map-status").textContent = "projecting…";
  try {
    const data = await api("GET", "/collections/" + encodeURIComponent(current()) + "/map?" + params);
    const canvas = $("map");
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const xs = data.points.map((p) => p.x), ys = data.points.map((p) => p.y);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const sx = (x) => 20 + ((x - x0) / (x1 - x0 || 1)) * (canvas.width - 40);
    const sy = (y) => canvas.height - 20 - ((y - y0) / (y1 - y0 || 1)) * (canvas.height - 40);
    const colour = {};
    data.labels.forEach((label, i) => { colour[label] = COLOURS[i % COLOURS.length]; });
    for (const p of data.points) {
      ctx.beginPath();
      ctx.arc(sx(p.x), sy(p.y), 4, 0, 2 * Math.PI);
      ctx.fillStyle = colour[p.label];
      ctx.globalAlpha = 0.8;
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    const legend = $("map-legend");
    legend.textContent = "";
    for (const label of data.labels) {
      const li = document.createElement("li");
      const swatch = document.createElement("span"); swatch.className = "swatch"; swatch.style.background = colour[label];
      li.append(swatch, label);
      legend.appendChild(li);
    }
    const share = data.explained_variance.map((v) => (100 * v).toFixed(1) + "%").join(" + ");
    $("map-status").textContent = data.sample + " of " + data.count + " records, PCA of the decoded codes (" + share +
      " of the variance), coloured by " + data.color_by;
  } catch (err) {
    $("map-status").textContent = "";
    showError(err);
  }
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $("key-input").value.trim());
  $("key-input").value = "";
  start().catch(showError);
});
$("forget-key").addEventListener("click", () => askForKey(""));
$("collection").addEventListener("change", collectionChanged);
$("search-form").addEventListener("submit", search);
$("map-form").addEventListener("submit", drawMap);
$("prev-page").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); loadPage().catch(showError); });
$("next-page").addEventListener("click", () => { state.page += 1; loadPage().catch(showError); });
start().catch(showError);
