// mlgraph's dashboard: only the public GraphQL API (fetch for queries, graphql-transport-ws for
// the live feed), charts drawn as inline SVG. No dependencies, nothing loaded from elsewhere.
"use strict";

const GRAPHQL = new URL("../graphql", location.href);
const KEY_STORAGE = "mlgraph-api-key";
const PALETTE = ["#3867d6", "#20bf6b", "#f7b731", "#eb3b5a", "#8854d0", "#0fb9b1", "#fa8231", "#4b6584"];
const HOUR = 3600 * 1000;
const $ = (selector) => document.querySelector(selector);
const SVG_NS = "http://www.w3.org/2000/svg";

// --- GraphQL over HTTP -----------------------------------------------------------------------

function apiKey() {
  return $("#api-key").value.trim();
}

async function gql(query, variables) {
  const headers = { "content-type": "application/json" };
  if (apiKey()) headers.authorization = "Bearer " + apiKey();
  const response = await fetch(GRAPHQL, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors && body.errors.length) {
    const error = body.errors[0];
    const code = (error.extensions && error.extensions.code) || "ERROR";
    throw new Error(`${code}: ${error.message}`);
  }
  return body.data;
}

const STATS = `query DashboardStats($model: String!, $since: DateTime!, $until: DateTime!, $bucket: BucketSize!) {
  predictionStats(modelName: $model, since: $since, until: $until, bucket: $bucket) {
    start count meanLatencyMs p95LatencyMs labels { label count } }
  performance(modelName: $model, since: $since, until: $until, bucket: $bucket) {
    start predictions withActuals accuracy rewarded meanReward }
}`;
const DRIFT = `query DashboardDrift($model: String!, $reference: TimeWindow!, $current: TimeWindow!) {
  drift(modelName: $model, reference: $reference, current: $current) {
    status message referenceCount currentCount
    features { name feature test value threshold drifted }
    label { test value threshold drifted }
  }
}`;
const LIVE = `subscription DashboardLive($modelName: String, $after: String) {
  predictionAdded(modelName: $modelName, after: $after) {
    cursor replayed prediction { id createdAt modelName label latencyMs features }
  }
}`;

// --- controls --------------------------------------------------------------------------------

// The inputs show local time to the second (step="1"). Each also remembers the exact instant
// it was set to, kept while its text is unchanged: a link's windows (demo-traffic prints them
// to the millisecond) reach the queries as given, not rounded to what the input can show.
function toLocalInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function setInstant(input, date) {
  input.value = toLocalInput(date);
  input.dataset.instant = date.toISOString();
  input.dataset.shown = input.value; // as the browser normalised it (":00" seconds dropped)
}

function readInstant(input) {
  if (input.dataset.instant && input.value === input.dataset.shown) return new Date(input.dataset.instant);
  return new Date(input.value);
}

function initControls() {
  const params = new URLSearchParams(location.search);
  const now = new Date();
  const until = params.get("until") ? new Date(params.get("until")) : new Date(Math.ceil(now.getTime() / HOUR) * HOUR);
  const since = params.get("since") ? new Date(params.get("since")) : new Date(until.getTime() - 24 * HOUR);
  const driftFrom = params.get("driftFrom") ? new Date(params.get("driftFrom")) : new Date(now.getTime() - HOUR);
  setInstant($("#since"), since);
  setInstant($("#until"), until);
  setInstant($("#drift-from"), driftFrom);
  $("#bucket").value = params.get("bucket") === "DAY" ? "DAY" : "HOUR";
  $("#api-key").value = sessionStorage.getItem(KEY_STORAGE) || "";
  return params.get("model");
}

function settings() {
  return {
    model: $("#model").value,
    since: readInstant($("#since")),
    until: readInstant($("#until")),
    bucket: $("#bucket").value,
    driftFrom: readInstant($("#drift-from")),
  };
}

function showError(message) {
  const box = $("#error");
  box.hidden = !message;
  box.textContent = message || "";
}

async function loadModels(wanted) {
  const select = $("#model");
  try {
    const data = await gql("query DashboardModels { models { name isDefault } }", {});
    select.replaceChildren(...data.models.map((m) => new Option(m.name, m.name, m.isDefault, m.isDefault)));
  } catch (error) {
    // Without models (or without a key yet) fall back to the usual default name.
    select.replaceChildren(new Option("iris", "iris", true, true));
    showError(String(error.message || error));
  }
  if (wanted) {
    if (![...select.options].some((o) => o.value === wanted)) select.add(new Option(wanted, wanted));
    select.value = wanted;
  }
}

// --- SVG helpers ------------------------------------------------------------------------------

function el(name, attributes = {}, children = []) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function title(text) {
  return el("title", {}, [text]);
}

function svg(width, height) {
  return el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
}

function emptyChart(container, text) {
  const chart = svg(720, 60);
  chart.append(el("text", { x: 360, y: 34, "text-anchor": "middle", class: "empty" }, [text]));
  container.replaceChildren(chart);
}

function formatTime(date, bucket) {
  const options = bucket === "DAY" ? { month: "short", day: "numeric" } : { hour: "2-digit", minute: "2-digit" };
  return date.toLocaleString(undefined, options);
}

function niceMax(value) {
  if (value <= 0) return 1;
  const step = Math.pow(10, Math.floor(Math.log10(value)));
  return Math.ceil(value / step) * step;
}

function yAxis(chart, left, top, height, width, max, format) {
  for (const fraction of [0, 0.5, 1]) {
    const y = top + height - fraction * height;
    chart.append(el("line", { x1: left, x2: left + width, y1: y, y2: y, class: "axis" }));
    chart.append(el("text", { x: left - 4, y: y + 3, "text-anchor": "end" }, [format(max * fraction)]));
  }
}

// Every bucket start from since's bucket to until, so that empty hours show as gaps, not as
// nothing. The first starts before since unless since is on the hour (or midnight, by day).
function bucketStarts(since, until, bucket) {
  const step = bucket === "DAY" ? 24 * HOUR : HOUR;
  const first = new Date(since);
  if (bucket === "DAY") first.setUTCHours(0, 0, 0, 0);
  else first.setUTCMinutes(0, 0, 0);
  const starts = [];
  for (let t = first.getTime(); t < until.getTime() && starts.length < 500; t += step) starts.push(t);
  return starts;
}

// The slots every chart shares, one per bucket (plus any bucket the server returned outside
// them): the latency and accuracy points sit over the volume chart's bars. Placing them by
// time from since instead put the first bucket, which starts before since, outside the plot.
function slotStarts(buckets, range) {
  const starts = bucketStarts(range.since, range.until, range.bucket);
  for (const b of buckets) {
    const t = new Date(b.start).getTime();
    if (!starts.includes(t)) starts.push(t);
  }
  return starts.sort((a, b) => a - b);
}

// --- charts -----------------------------------------------------------------------------------

function labelColors(stats) {
  const labels = [...new Set(stats.flatMap((b) => b.labels.map((l) => l.label)))].sort();
  return new Map(labels.map((label, i) => [label, PALETTE[i % PALETTE.length]]));
}

function drawVolume(stats, range, colors) {
  const container = $("#volume-chart");
  const byStart = new Map(stats.map((b) => [new Date(b.start).getTime(), b]));
  const starts = slotStarts(stats, range);
  if (!stats.length) return emptyChart(container, "No predictions in this range.");
  const width = 720, height = 220, left = 40, top = 10, plotHeight = 170, plotWidth = width - left - 10;
  const max = niceMax(Math.max(...stats.map((b) => b.count)));
  const chart = svg(width, height);
  yAxis(chart, left, top, plotHeight, plotWidth, max, (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)));
  const slot = plotWidth / starts.length;
  const labelEvery = Math.ceil(starts.length / 12);
  starts.forEach((t, i) => {
    const bucket = byStart.get(t);
    const x = left + i * slot;
    const count = bucket ? bucket.count : 0;
    const when = new Date(t);
    const group = el("g", { class: "bucket", "data-start": when.toISOString(), "data-count": count });
    const parts = bucket ? bucket.labels.map((l) => `${l.label} ${l.count}`).join(", ") : "";
    group.append(title(`${when.toLocaleString()}: ${count} predictions${parts ? " (" + parts + ")" : ""}`));
    let y = top + plotHeight;
    for (const part of bucket ? bucket.labels : []) {
      const h = (part.count / max) * plotHeight;
      y -= h;
      group.append(el("rect", {
        x: x + slot * 0.1, y, width: Math.max(slot * 0.8, 1), height: h,
        fill: colors.get(part.label), "data-label": part.label, "data-count": part.count,
      }));
    }
    chart.append(group);
    if (i % labelEvery === 0) {
      chart.append(el("text", { x: x + slot / 2, y: height - 14, "text-anchor": "middle" }, [formatTime(when, range.bucket)]));
    }
  });
  container.replaceChildren(chart);
}

function drawLabelMix(stats, colors) {
  const totals = new Map();
  for (const b of stats) for (const l of b.labels) totals.set(l.label, (totals.get(l.label) || 0) + l.count);
  const all = [...totals.values()].reduce((a, b) => a + b, 0);
  const items = [...colors.keys()].map((label) => {
    const li = document.createElement("li");
    li.dataset.label = label;
    li.dataset.count = totals.get(label);
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colors.get(label);
    const share = all ? Math.round((100 * totals.get(label)) / all) : 0;
    li.append(swatch, `${label}: ${totals.get(label)} (${share}%)`);
    return li;
  });
  $("#label-mix").replaceChildren(...items);
}

function drawLines(container, points, series, range, starts, { max, format, empty }) {
  if (!points.length) return emptyChart(container, empty);
  const width = 720, height = 200, left = 46, top = 10, plotHeight = 150, plotWidth = width - left - 14;
  const chart = svg(width, height);
  yAxis(chart, left, top, plotHeight, plotWidth, max, format);
  const slots = [...starts];
  for (const p of points) if (!slots.includes(p.t)) slots.push(p.t);
  slots.sort((a, b) => a - b);
  const slot = plotWidth / slots.length;
  const xOf = (t) => left + (slots.indexOf(t) + 0.5) * slot;
  const yOf = (v) => top + plotHeight - (v / max) * plotHeight;
  series.forEach(({ key, name, color }) => {
    const coords = points.map((p) => `${xOf(p.t)},${yOf(p[key])}`).join(" ");
    chart.append(el("polyline", { points: coords, fill: "none", stroke: color, "stroke-width": 2 }));
    for (const p of points) {
      chart.append(el("circle", {
        cx: xOf(p.t), cy: yOf(p[key]), r: 3, fill: color, class: `point ${key}`,
        "data-start": new Date(p.t).toISOString(), "data-value": p[key],
      }, [title(`${new Date(p.t).toLocaleString()}: ${name} ${format(p[key])}`)]));
    }
  });
  const legendY = height - 12;
  series.forEach(({ name, color }, i) => {
    chart.append(el("rect", { x: left + i * 110, y: legendY - 8, width: 10, height: 10, fill: color }));
    chart.append(el("text", { x: left + i * 110 + 14, y: legendY + 1 }, [name]));
  });
  chart.append(el("text", { x: left + 330, y: legendY + 1 }, [formatTime(range.until, range.bucket)]));
  chart.append(el("text", { x: left + 240, y: legendY + 1 }, [`from ${formatTime(range.since, range.bucket)} to`]));
  container.replaceChildren(chart);
}

function drawLatency(stats, range, starts) {
  const points = stats.map((b) => ({ t: new Date(b.start).getTime(), mean: b.meanLatencyMs, p95: b.p95LatencyMs }));
  const max = niceMax(Math.max(0, ...points.map((p) => p.p95)));
  drawLines($("#latency-chart"), points, [
    { key: "mean", name: "mean", color: PALETTE[0] },
    { key: "p95", name: "p95", color: PALETTE[3] },
  ], range, starts, { max, format: (v) => v.toFixed(v < 10 ? 1 : 0), empty: "No predictions in this range." });
  const total = stats.reduce((a, b) => a + b.count, 0);
  const mean = total ? stats.reduce((a, b) => a + b.meanLatencyMs * b.count, 0) / total : null;
  $("#mean-latency").textContent = mean === null ? "–" : `${mean.toFixed(1)} ms`;
  $("#p95-latency").textContent = points.length ? `${Math.max(...points.map((p) => p.p95)).toFixed(1)} ms` : "–";
}

// The rewards Seldon feedback gave requests in the window: their mean, weighted by bucket.
function drawReward(performance) {
  const rewarded = performance.reduce((a, b) => a + b.rewarded, 0);
  const mean = rewarded
    ? performance.reduce((a, b) => a + (b.rewarded ? b.meanReward * b.rewarded : 0), 0) / rewarded
    : null;
  $("#reward").textContent = mean === null ? "–" : mean.toFixed(2);
  $("#reward").dataset.value = mean === null ? "" : mean;
  $("#reward-note").textContent = rewarded ? `${rewarded} requests rewarded` : "no rewards";
}

function drawAccuracy(performance, range, starts) {
  const withActuals = performance.filter((b) => b.withActuals > 0 && b.accuracy !== null);
  const points = withActuals.map((b) => ({ t: new Date(b.start).getTime(), accuracy: b.accuracy * 100 }));
  drawLines($("#accuracy-chart"), points, [{ key: "accuracy", name: "accuracy %", color: PALETTE[1] }], range, starts,
    { max: 100, format: (v) => `${Math.round(v)}`, empty: "No actuals recorded in this range (recordActual)." });
  const n = withActuals.reduce((a, b) => a + b.withActuals, 0);
  const predictions = performance.reduce((a, b) => a + b.predictions, 0);
  const accuracy = n ? withActuals.reduce((a, b) => a + b.accuracy * b.withActuals, 0) / n : null;
  $("#accuracy").textContent = accuracy === null ? "–" : `${(accuracy * 100).toFixed(1)}%`;
  $("#accuracy").dataset.value = accuracy === null ? "" : accuracy;
  $("#accuracy-note").textContent = n ? `${n} of ${predictions} predictions have actuals` : "no actuals";
}

// What each test's figure is and which way is bad, as the schema's DriftTest says (Evidently
// 0.4.40's rules): KS, chi-square and the Z-test give p-values, small when the windows differ
// (KS flags at or below the threshold, the others below it); the rest give distances, large
// when the windows differ (flagged at or above it).
const DRIFT_RULES = {
  KS: "p-value; drift at or below",
  CHISQUARE: "p-value; drift below",
  ZTEST: "p-value; drift below",
};

function figureMeaning(column) {
  const note = document.createElement("span");
  note.className = "meaning";
  note.textContent = `${DRIFT_RULES[column.test] || "distance; drift at or above"} ${column.threshold}`;
  return note;
}

function drawDrift(report, reference, current) {
  const fmt = (d) => d.toLocaleString();
  $("#drift-windows").textContent = `reference ${fmt(reference.since)} – ${fmt(reference.until)}, current ${fmt(current.since)} – ${fmt(current.until)}`;
  const status = $("#drift-status");
  status.textContent = report.status.replace("_", " ").toLowerCase();
  status.className = `value ${report.status}`;
  $("#drift-message").textContent =
    `${report.referenceCount} reference and ${report.currentCount} current predictions. ${report.message || ""}`;
  const columns = [...report.features.map((f) => ({ ...f, name: f.name ?? `feature ${f.feature}` }))];
  if (report.label) columns.push({ ...report.label, name: "predicted label" });
  const rows = columns.map((c) => {
    const tr = document.createElement("tr");
    tr.className = c.drifted ? "drifted" : "";
    tr.dataset.column = c.name;
    tr.dataset.drifted = c.drifted;
    for (const text of [c.name, c.test, c.value.toPrecision(3), c.threshold, c.drifted ? "yes" : "no"]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    tr.children[2].append(" ", figureMeaning(c));
    return tr;
  });
  $("#drift-table tbody").replaceChildren(...rows);
}

// --- loading ----------------------------------------------------------------------------------

async function refresh() {
  const range = settings();
  document.querySelectorAll(".bucket-name").forEach((n) => { n.textContent = range.bucket === "DAY" ? "day" : "hour"; });
  showError("");
  const variables = {
    model: range.model, since: range.since.toISOString(), until: range.until.toISOString(), bucket: range.bucket,
  };
  const reference = { since: range.since, until: range.driftFrom };
  const current = { since: range.driftFrom, until: range.until };
  const iso = (w) => ({ since: w.since.toISOString(), until: w.until.toISOString() });
  const [stats, drift] = await Promise.allSettled([
    gql(STATS, variables),
    gql(DRIFT, { model: range.model, reference: iso(reference), current: iso(current) }),
  ]);
  const errors = [];
  if (stats.status === "fulfilled") {
    const data = stats.value;
    const colors = labelColors(data.predictionStats);
    $("#total").textContent = data.predictionStats.reduce((a, b) => a + b.count, 0);
    drawVolume(data.predictionStats, range, colors);
    drawLabelMix(data.predictionStats, colors);
    const starts = slotStarts(data.predictionStats, range);
    drawLatency(data.predictionStats, range, starts);
    drawAccuracy(data.performance, range, starts);
    drawReward(data.performance);
  } else {
    errors.push(stats.reason.message);
  }
  if (drift.status === "fulfilled") drawDrift(drift.value.drift, reference, current);
  else errors.push("drift: " + drift.reason.message);
  showError(errors.join(" · "));
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

// --- live feed: a minimal graphql-transport-ws client ------------------------------------------

const live = { socket: null, cursor: null, retries: 0, seen: new Set() };

function setLiveStatus(text, open) {
  const status = $("#live-status");
  status.textContent = text;
  status.className = open ? "status open" : "status";
}

function addLiveRow(event) {
  const p = event.prediction;
  if (live.seen.has(p.id)) return;
  live.seen.add(p.id);
  const tr = document.createElement("tr");
  tr.className = "new";
  tr.dataset.id = p.id;
  tr.dataset.label = p.label;
  const cells = [
    new Date(p.createdAt).toLocaleTimeString(), p.modelName, p.label, `${p.latencyMs.toFixed(1)} ms`,
    p.features.map((x) => (typeof x === "number" ? x.toFixed(2) : x)).join(", "),
  ];
  for (const text of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.append(td);
  }
  const body = $("#live-feed tbody");
  body.prepend(tr);
  while (body.children.length > 100) body.lastElementChild.remove();
}

function connectLive() {
  const url = new URL(GRAPHQL);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url, "graphql-transport-ws");
  live.socket = socket;
  socket.onopen = () => {
    // Browsers cannot set headers on a WebSocket: the key goes in connection_init.
    const payload = apiKey() ? { authorization: "Bearer " + apiKey() } : {};
    socket.send(JSON.stringify({ type: "connection_init", payload }));
  };
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.type === "connection_ack") {
      live.retries = 0;
      setLiveStatus("connected", true);
      // After a reconnect, 'after' brings what was missed first, each row once.
      const variables = { modelName: $("#model").value || null, after: live.cursor };
      socket.send(JSON.stringify({ id: "live", type: "subscribe", payload: { query: LIVE, variables } }));
    } else if (data.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
    } else if (data.type === "next") {
      if (data.payload.errors) {
        setLiveStatus("error: " + data.payload.errors[0].message, false);
        return;
      }
      const event = data.payload.data.predictionAdded;
      live.cursor = event.cursor;
      addLiveRow(event);
    } else if (data.type === "error") {
      setLiveStatus("error: " + (data.payload[0] && data.payload[0].message), false);
    }
  };
  socket.onclose = (event) => {
    if (live.socket !== socket) return;
    setLiveStatus(`disconnected (${event.code}); reconnecting…`, false);
    const delay = Math.min(30000, 500 * 2 ** live.retries++);
    setTimeout(connectLive, delay);
  };
}

function restartLive() {
  const old = live.socket;
  live.socket = null;
  live.cursor = null;
  if (old) old.close();
  $("#live-feed tbody").replaceChildren();
  live.seen.clear();
  connectLive();
}

// --- start ------------------------------------------------------------------------------------

async function main() {
  const wanted = initControls();
  $("#api-key").addEventListener("change", () => {
    sessionStorage.setItem(KEY_STORAGE, apiKey());
    loadModels($("#model").value).then(refresh);
    restartLive();
  });
  $("#controls").addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  $("#model").addEventListener("change", () => { refresh(); restartLive(); });
  await loadModels(wanted);
  connectLive();
  await refresh();
}

main();
