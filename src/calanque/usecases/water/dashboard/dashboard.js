/* Water dashboard: GET /api/v1/water/{id}/status and /{id}/quality, histories from the NGSI-LD temporal API. */
(function () {
  "use strict";
  const C = window.Calanque;
  const D = window.CalanqueDashboards;
  const $ = (selector) => document.querySelector(selector);
  const API = "/api/v1/water";
  const COLOURS = { green: C.t("Green"), yellow: C.t("Yellow"), orange: C.t("Orange"), red: C.t("Red") };
  const BANDS = { yellow: "rgba(224, 161, 0, 0.18)", orange: "rgba(230, 97, 0, 0.2)", red: "rgba(198, 40, 40, 0.2)" };
  const LINES = { yellow: "#b58100", orange: "#e66100", red: "#c62828" };
  const PARAMETERS = {
    temperature: C.t("Temperature"), pH: C.t("pH"), O2: C.t("Dissolved oxygen"),
    conductivity: C.t("Conductivity"), turbidity: C.t("Turbidity"),
  };
  const STATUS = { ok: C.t("Within range"), violation: C.t("Out of range"), missing: C.t("Not measured"), unchecked: C.t("Not checked") };
  const statuses = new Map();
  const qualities = new Map();

  function levelAttr(entity) {
    return entity.type === "WaterObserved" ? "height" : "currentLevel";
  }

  function colour(name) {
    return D.state(name === "green" ? "green" : name, COLOURS[name] || name);
  }

  async function showStations() {
    const found = (await Promise.all(["FloodMonitoring", "WaterObserved"].map((t) => D.entities(t)))).flat();
    const answers = await Promise.all(found.map((e) => C.api(`${API}/${encodeURIComponent(e.id)}/status`)
      .then((s) => ({ entity: e, status: s })).catch((err) => ({ entity: e, error: err.message }))));
    const rows = answers.map((a) => Object.assign({ __key: a.entity.id, name: D.name(a.entity) }, a));
    rows.forEach((r) => statuses.set(r.entity.id, r));
    D.figure(document.querySelector('[data-figure="stations"]'), rows.length);
    D.figure(document.querySelector('[data-figure="alerts"]'), rows.filter((r) => r.status && r.status.colour !== "green").length);
    D.table($("#water-stations"), [
      { key: "name", label: C.t("Station"), render: (r) => D.link(r.entity.id, r.name) },
      { key: "level_m", label: C.t("Level (m)"), num: true, value: (r) => r.status && r.status.level_m,
        render: (r) => (r.status ? C.fmt.number(r.status.level_m, 2) : "–") },
      { key: "rate_of_rise_cm_per_h", label: C.t("Rate of rise (cm/h)"), num: true, value: (r) => r.status && r.status.rate_of_rise_cm_per_h,
        render: (r) => (r.status && r.status.rate_of_rise_cm_per_h !== null ? C.fmt.number(r.status.rate_of_rise_cm_per_h, 1) : "–") },
      { key: "colour", label: C.t("Vigilance"), value: (r) => r.status && r.status.colour,
        render: (r) => (r.status ? colour(r.status.colour) : D.state("unknown", r.error)) },
      { key: "observed_at", label: C.t("Measured"), render: (r) => (r.status ? C.fmt.dateTime(r.status.observed_at) : "–") },
      { key: "reason", label: C.t("Why"), render: (r) => (r.status ? r.status.reason : "–") },
    ], rows, C.t("Vigilance of each station now; rate of rise over the last hour"));
    const withStatus = rows.filter((r) => r.status);
    const rise = withStatus.length ? withStatus[0].status.thresholds.rise_cm_per_h : {};
    D.plot($("#water-rise"), [{
      type: "bar", x: withStatus.map((r) => r.name), y: withStatus.map((r) => r.status.rate_of_rise_cm_per_h),
      marker: { color: "#1f6fb2" }, hovertemplate: "%{x}: %{y:.1f} cm/h<extra></extra>",
    }], {
      yaxis: { title: { text: C.t("Rate of rise (cm/h)") } }, xaxis: { type: "category" }, margin: { l: 56, r: 16, t: 36, b: 120 },
      shapes: Object.entries(rise).map(([name, y]) => ({ type: "line", xref: "paper", x0: 0, x1: 1, y0: y, y1: y, line: { dash: "dash", color: LINES[name], width: 2 } })),
    });
    const select = $("#water-station");
    rows.forEach((r) => select.append(C.el("option", { value: r.entity.id }, r.name)));
    if (rows.length) select.value = D.param("station", rows[0].entity.id);
    await showLevel();
  }

  async function showLevel() {
    const id = $("#water-station").value;
    const row = statuses.get(id);
    if (!row) return;
    D.setParam("station", id);
    const hours = Number($("#water-hours").value);
    const to = new Date();
    const from = new Date(to.getTime() - hours * 3600000);
    const attr = levelAttr(row.entity);
    const data = await D.load($("#water-level").parentElement, D.history(id, [attr], from.toISOString(), to.toISOString()));
    const points = data[attr];
    const levels = row.status ? row.status.thresholds.level_m : {};
    const top = Math.max(...points.map((p) => p[1]), ...Object.values(levels)) * 1.1;
    const edges = [["yellow", levels.yellow, levels.orange], ["orange", levels.orange, levels.red], ["red", levels.red, top]];
    D.plot($("#water-level"), [{
      type: "scatter", mode: "lines", name: C.t("Level (m)"), x: points.map((p) => D.local(p[0])), y: points.map((p) => p[1]),
      line: { color: "#0f3557", width: 2 },
    }], {
      yaxis: { title: { text: C.t("Level (m)") }, range: [0, top] }, xaxis: D.TIME_AXIS,
      shapes: edges.filter(([, low]) => low !== null && low !== undefined).map(([name, low, high]) => ({
        type: "rect", xref: "paper", x0: 0, x1: 1, y0: low, y1: high === null || high === undefined ? top : high,
        fillcolor: BANDS[name], line: { width: 0 }, layer: "below",
      })),
      annotations: edges.filter(([, low]) => low !== null && low !== undefined).map(([name, low]) => ({
        xref: "paper", x: 0.01, y: low, yanchor: "bottom", xanchor: "left", showarrow: false,
        text: `${COLOURS[name]} ${C.fmt.number(low, 2)} m`, font: { color: LINES[name] },
      })),
    });
    $("#water-level").dataset.points = String(points.length);
  }

  async function showQuality() {
    const probes = await D.entities("WaterQualityObserved");
    const answers = await Promise.all(probes.map((e) => C.api(`${API}/${encodeURIComponent(e.id)}/quality`)
      .then((q) => [e, q])));
    const rows = [];
    let violations = 0;
    for (const [entity, quality] of answers) {
      qualities.set(entity.id, { entity, quality });
      violations += quality.violations.length;
      for (const [name, p] of Object.entries(quality.parameters)) {
        rows.push({ __key: `${entity.id}#${name}`, entity, name, p });
      }
    }
    D.figure(document.querySelector('[data-figure="probes"]'), probes.length);
    D.figure(document.querySelector('[data-figure="violations"]'), violations);
    const bound = (v) => (v === null || v === undefined ? "–" : C.fmt.number(v));
    D.table($("#water-quality"), [
      { key: "probe", label: C.t("Probe"), render: (r) => D.link(r.entity.id, D.name(r.entity)) },
      { key: "parameter", label: C.t("Parameter"), render: (r) => PARAMETERS[r.name] || r.name },
      { key: "value", label: C.t("Value"), num: true, value: (r) => r.p.value,
        render: (r) => (r.p.value === undefined ? "–" : `${C.fmt.number(r.p.value)} ${r.p.unit || ""}`.trim()) },
      { key: "range", label: C.t("Acceptable range"), render: (r) => `${bound(r.p.range.min)} – ${bound(r.p.range.max)}` },
      { key: "status", label: C.t("Check"), value: (r) => r.p.status,
        render: (r) => D.state(r.p.status === "ok" ? "ok" : r.p.status === "violation" ? "bad" : "unknown", r.p.message || STATUS[r.p.status] || r.p.status) },
    ], rows, C.t("Latest value of each parameter"));
    const probe = $("#water-probe");
    probes.forEach((e) => probe.append(C.el("option", { value: e.id }, D.name(e))));
    Object.entries(PARAMETERS).forEach(([key, label]) => $("#water-parameter").append(C.el("option", { value: key }, label)));
    if (probes.length) await showParameter();
  }

  async function showParameter() {
    const { entity, quality } = qualities.get($("#water-probe").value);
    const name = $("#water-parameter").value;
    const to = new Date();
    const from = new Date(to.getTime() - 24 * 3600000);
    const data = await D.history(entity.id, [name], from.toISOString(), to.toISOString());
    const points = data[name];
    const range = quality.parameters[name].range;
    const shapes = ["min", "max"].filter((b) => range[b] !== null && range[b] !== undefined).map((b) => ({
      type: "line", xref: "paper", x0: 0, x1: 1, y0: range[b], y1: range[b], line: { dash: "dash", color: "#c62828", width: 2 },
    }));
    D.plot($("#water-parameter-chart"), [{
      type: "scatter", mode: "lines", name: PARAMETERS[name], x: points.map((p) => D.local(p[0])), y: points.map((p) => p[1]),
    }], { yaxis: { title: { text: `${PARAMETERS[name]} ${quality.parameters[name].unit ? "(" + quality.parameters[name].unit + ")" : ""}` } }, xaxis: D.TIME_AXIS, shapes });
  }

  $("#water-station").addEventListener("change", () => showLevel().catch(C.showError));
  $("#water-hours").addEventListener("change", () => showLevel().catch(C.showError));
  $("#water-probe").addEventListener("change", () => showParameter().catch(C.showError));
  $("#water-parameter").addEventListener("change", () => showParameter().catch(C.showError));
  showStations().catch(C.showError);
  showQuality().catch(C.showError);
})();
