// The operator's dashboard: one Server-Sent Events stream (/api/events) of snapshots, at most
// one a second, drawn as state, timelines, sparklines and tables; and the control API's
// brownout and model switch behind a confirmation. EventSource reconnects by itself when
// Alice restarts.

import { call } from "./api.js";
import { confirmAction } from "./chat.js";
import { language, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
/** Points kept per sparkline: two minutes at one snapshot a second. */
const HISTORY = 120;

const dashboard = {
  source: null,
  /** instance id → { series: {name: number[]}, last: snapshot } */
  instances: new Map(),
};

export function wireDashboard() {
  $("brownout-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const level = $("brownout-level").value;
    if (!(await confirmAction(t("confirm_brownout", { level })))) return;
    control("/api/brain/brownout", { activate: true, level, reason: "dashboard" });
  });
  $("brownout-off").addEventListener("click", async () => {
    if (!(await confirmAction(t("confirm_brownout_off")))) return;
    control("/api/brain/brownout", { activate: false, reason: "dashboard" });
  });
  $("model-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const model = $("model-name").value.trim();
    const question = model ? t("confirm_model", { model }) : t("confirm_model_default");
    if (!(await confirmAction(question))) return;
    control("/api/brain/model/switch", model ? { model, reason: "dashboard" } : { reason: "dashboard" });
  });
}

async function control(path, body) {
  try {
    await call("POST", path, body);
    $("control-result").textContent = t("applied");
  } catch (error) {
    $("control-result").textContent = error.message;
  }
}

/** Opens the event stream (once) and draws every snapshot. */
export function startDashboard() {
  if (dashboard.source) return;
  const source = new EventSource("/api/events");
  dashboard.source = source;
  source.addEventListener("open", () => setLive(true));
  source.addEventListener("error", () => setLive(false));
  source.addEventListener("snapshot", (event) => {
    setLive(true);
    draw(JSON.parse(event.data));
  });
}

export function stopDashboard() {
  dashboard.source?.close();
  dashboard.source = null;
}

function setLive(live) {
  const badge = $("live");
  badge.textContent = t(live ? "live" : "reconnecting");
  badge.classList.toggle("down", !live);
}

function remember(entry, name, value) {
  const series = (entry.series[name] ??= []);
  series.push(Number.isFinite(value) ? value : null);
  if (series.length > HISTORY) series.shift();
  return series;
}

/** Redraws the panels in the language just chosen, from the last snapshot of each. */
export function relabelDashboard() {
  for (const [id, entry] of dashboard.instances) {
    const fresh = instanceElement(id);
    entry.element.replaceWith(fresh);
    entry.element = fresh;
    if (entry.last) draw(entry.last, { remember: false });
  }
}

function draw(snapshot, { remember: keep = true } = {}) {
  const id = snapshot.instance ?? "alice";
  let entry = dashboard.instances.get(id);
  if (!entry) {
    entry = { series: {}, element: instanceElement(id) };
    dashboard.instances.set(id, entry);
    $("instances").append(entry.element);
  }
  entry.last = snapshot;
  const guardian = snapshot.guardian ?? {};
  const readings = guardian.readings ?? {};
  const requests = snapshot.requests ?? {};
  const view = entry.element;

  // The mode requests are served in: a manual brownout over a NORMAL machine is a brownout.
  const level = guardian.brownout_level ?? "NONE";
  const served = guardian.state === "NORMAL" && level !== "NONE" ? "BROWNOUT" : guardian.state;
  const state = view.querySelector(".state");
  state.textContent = served ?? "—";
  state.dataset.state = served ?? "";
  const manual = guardian.manual_brownout ? ` (${t("manual")})` : "";
  view.querySelector(".level").textContent = `${level}${manual}`;

  const transitions = guardian.transitions ?? [];
  const timeline = view.querySelector(".timeline");
  timeline.replaceChildren(
    ...transitions
      .slice(-12)
      .reverse()
      .map((transition) => {
        const item = document.createElement("li");
        const when = document.createElement("time");
        when.dateTime = transition.at;
        when.textContent = new Date(transition.at).toLocaleTimeString(language());
        item.append(when, ` ${transition.from} → ${transition.to}: ${transition.reason ?? ""}`);
        return item;
      }),
  );
  view.querySelector(".no-transitions").hidden = transitions.length > 0;

  const latency = requests.latency_ms ?? {};
  const percent = (fraction) => (Number.isFinite(fraction) ? fraction * 100 : null);
  const gauges = [
    ["ram", percent(readings.ram_pct), " %"],
    ["cpu", percent(readings.cpu_pct), " %"],
    ["disk", percent(readings.disk_pct), " %"],
    // Pressure: the share of the last 10 s some task waited for the resource.
    ["cpu_pressure", percent(readings.pressure?.cpu?.some?.avg10), " %"],
    ["memory_pressure", percent(readings.pressure?.memory?.some?.avg10), " %"],
    ["io_pressure", percent(readings.pressure?.io?.some?.avg10), " %"],
    ["rate", requests.rate_per_s, "/s"],
    ["p50", latency.p50, " ms"],
    ["p95", latency.p95, " ms"],
    ["p99", latency.p99, " ms"],
    ["p999", latency.p99_9, " ms"],
  ];
  for (const [name, value, unit] of gauges) {
    const series = keep ? remember(entry, name, value) : (entry.series[name] ?? []);
    const cell = view.querySelector(`[data-gauge="${name}"]`);
    cell.querySelector(".value").textContent = Number.isFinite(value) ? `${round(value)}${unit}` : "—";
    cell.querySelector("svg").replaceChildren(sparkline(series));
  }

  drawRates(view.querySelector(".errors"), snapshot.errors ?? {});
  drawBackends(view.querySelector(".backends tbody"), snapshot.backends ?? [], snapshot.last_resort);

  const cache = snapshot.cache ?? {};
  view.querySelector(".cache-hit-rate").textContent =
    cache.hit_rate == null ? "—" : `${round(cache.hit_rate * 100)} %`;
  view.querySelector(".cache-entries").textContent = cache.entries ?? "—";
  const store = snapshot.store ?? {};
  view.querySelector(".store-batches").textContent = store.batches ?? "—";
  view.querySelector(".store-turns").textContent =
    store.turns_per_batch == null ? "—" : round(store.turns_per_batch);
}

function round(value) {
  return Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
}

/** Errors by code and shed requests by reason, since Alice started; the error rate now. */
function drawRates(list, errors) {
  const rows = [[t("error_rate"), `${round(errors.rate_per_s ?? 0)}/s`]];
  for (const [code, count] of Object.entries(errors.by_code ?? {})) rows.push([code, count]);
  const shed = errors.shed ?? {};
  for (const [reason, count] of Object.entries(shed.by_reason ?? {})) rows.push([`${t("shed")}: ${reason}`, count]);
  for (const [scope, count] of Object.entries(shed.rate_limited ?? {})) {
    rows.push([`${t("rate_limited")}: ${scope}`, count]);
  }
  list.replaceChildren(
    ...rows.map(([name, value]) => {
      const item = document.createElement("li");
      item.textContent = `${name}: ${value}`;
      return item;
    }),
  );
}

/** The configured backends, then the embedded last resort: its answers so far, or that it is absent (why, on hover). */
function drawBackends(body, backends, lastResort) {
  const rows = backends.map((backend) => {
    const row = document.createElement("tr");
    const breaker = backend.breaker ?? "—";
    const cells = [backend.name, breaker, backend.in_flight, backend.queue_depth, backend.limit];
    cells.forEach((value, index) => {
      const cell = document.createElement(index === 0 ? "th" : "td");
      if (index === 0) cell.scope = "row";
      cell.textContent = value ?? "—";
      if (index === 1) cell.dataset.breaker = String(breaker).toLowerCase();
      row.append(cell);
    });
    row.dataset.backend = backend.name;
    return row;
  });
  if (lastResort) rows.push(lastResortRow(lastResort));
  body.replaceChildren(...rows);
}

function lastResortRow(lastResort) {
  const row = document.createElement("tr");
  const status = lastResort.available ? `${t("answered")}: ${lastResort.answers}` : t("absent");
  const cells = [t("last_resort"), status, lastResort.in_flight, lastResort.queued, lastResort.concurrency_limit];
  cells.forEach((value, index) => {
    const cell = document.createElement(index === 0 ? "th" : "td");
    if (index === 0) cell.scope = "row";
    cell.textContent = value ?? "—";
    if (index === 1 && lastResort.reason) cell.title = lastResort.reason;
    row.append(cell);
  });
  row.dataset.backend = "last-resort";
  return row;
}

/** A polyline of the values seen (up to HISTORY), across the whole width, scaled to their maximum. */
function sparkline(series) {
  const ns = "http://www.w3.org/2000/svg";
  const line = document.createElementNS(ns, "polyline");
  const values = series.map((v) => (v == null ? 0 : v));
  const max = Math.max(1, ...values);
  const step = 100 / Math.max(1, values.length - 1);
  line.setAttribute(
    "points",
    values.map((v, i) => `${(i * step).toFixed(1)},${(28 - (v / max) * 26).toFixed(1)}`).join(" "),
  );
  return line;
}

function instanceElement(id) {
  const section = document.createElement("section");
  section.className = "instance";
  section.dataset.instance = id;
  const gauge = (name, label) =>
    `<div class="gauge card" data-gauge="${name}"><span class="label">${label}</span>` +
    `<span class="value">—</span><svg viewBox="0 0 100 30" preserveAspectRatio="none" aria-hidden="true"></svg></div>`;
  section.innerHTML = `
    <h3 class="instance-name"></h3>
    <div class="row">
      <div class="card status-card">
        <span class="label">${t("state")}</span>
        <strong class="state"></strong>
        <span class="label">${t("level")}</span>
        <strong class="level"></strong>
      </div>
      <div class="card timeline-card">
        <h4>${t("transitions")}</h4>
        <ol class="timeline"></ol>
        <p class="no-transitions muted">${t("no_transitions")}</p>
      </div>
    </div>
    <h4>${t("machine")}</h4>
    <div class="gauges">${gauge("ram", t("ram"))}${gauge("cpu", t("cpu"))}${gauge("disk", t("disk"))}${gauge("cpu_pressure", t("cpu_pressure"))}${gauge("memory_pressure", t("memory_pressure"))}${gauge("io_pressure", t("io_pressure"))}</div>
    <h4>${t("requests")}</h4>
    <div class="gauges">${gauge("rate", t("rate"))}${gauge("p50", "p50")}${gauge("p95", "p95")}${gauge("p99", "p99")}${gauge("p999", "p99.9")}</div>
    <div class="row">
      <div class="card"><h4>${t("errors")}</h4><ul class="errors"></ul></div>
      <div class="card">
        <h4>${t("cache")}</h4>
        <dl><dt>${t("hit_rate")}</dt><dd class="cache-hit-rate">—</dd><dt>${t("entries")}</dt><dd class="cache-entries">—</dd></dl>
        <h4>${t("store")}</h4>
        <dl><dt>${t("batches")}</dt><dd class="store-batches">—</dd><dt>${t("turns_per_batch")}</dt><dd class="store-turns">—</dd></dl>
      </div>
    </div>
    <div class="card table-card" tabindex="0" role="region" aria-label="${t("backends")}">
      <table class="backends">
        <caption>${t("backends")}</caption>
        <thead><tr><th scope="col">${t("backend")}</th><th scope="col">${t("breaker")}</th><th scope="col">${t("in_flight")}</th><th scope="col">${t("queue")}</th><th scope="col">${t("limit")}</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>`;
  section.querySelector(".instance-name").textContent = `${t("instance")}: ${id}`;
  return section;
}
