/* The entity page: attributes with units, history charts (NGSI-LD temporal API), device, state and alerts.
 * Commands are in entity-commands.js, which the server includes only for those allowed to send them. */
(function () {
  "use strict";
  const C = window.Calanque;
  const D = window.CalanqueDashboards;
  const page = C.config.page;
  const id = page.id;
  const enc = encodeURIComponent(id);
  const $ = (selector) => document.querySelector(selector);
  // UN/CEFACT Recommendation 20 codes the platform uses (docs/data-conventions.md)
  const UNITS = {
    CEL: "°C", P1: "%", "2N": "dB", MTR: "m", CMT: "cm", MMT: "mm", KMT: "km", WTT: "W", KWH: "kWh", VLT: "V",
    AMP: "A", SEC: "s", MIN: "min", HUR: "h", LTR: "L", G42: "µS/cm", M1: "mg/L", MQS: "m³/s", GQ: "µg/m³",
    A97: "hPa", KEL: "K", C62: "",
  };
  const SKIP = new Set(["id", "type", "@context", "scope", "createdAt", "modifiedAt"]);
  const INCIDENTS = {
    overflow: C.t("Overflow"), prolongedHighFill: C.t("Prolonged high fill"), stuckSensor: C.t("Stuck sensor"),
    impossibleJump: C.t("Impossible fill jump"), tilted: C.t("Container dropped"), moved: C.t("Container moved"),
    lampFailure: C.t("Lamp failure"), dayBurner: C.t("Lit in daylight"), cycling: C.t("Cycling on and off"),
    communicationLoss: C.t("Communication lost"),
  };
  const STATUSES = { active: C.t("active"), inactive: C.t("inactive"), maintenance: C.t("maintenance"),
    decommissioned: C.t("decommissioned") };
  const COLOURS = { yellow: C.t("Yellow"), orange: C.t("Orange"), red: C.t("Red") };
  let numeric = [];

  function unit(code) {
    if (!code) return "";
    return code in UNITS ? UNITS[code] : code;
  }

  function shown(instance) {
    if (instance.type === "Relationship" || instance.type === "ListRelationship") {
      const targets = [].concat(instance.object || instance.objectList || []);
      return C.el("span", null, targets.map((t, i) => [i ? ", " : "", D.link(t, t.split(":").pop())]).flat());
    }
    if (instance.type === "GeoProperty") {
      const g = instance.value || {};
      return g.type === "Point" ? `${C.fmt.number(g.coordinates[1], 5)}, ${C.fmt.number(g.coordinates[0], 5)}` : g.type || "–";
    }
    const value = instance.value;
    if (typeof value === "number") return `${C.fmt.number(value)} ${unit(instance.unitCode)}`.trim();
    if (value === null || value === undefined) return "–";
    if (typeof value === "object" && !Array.isArray(value) && Object.values(value).every((v) => typeof v !== "object")) {
      return Object.values(value).join(", ");
    }
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function attributes(entity) {
    const rows = [];
    numeric = [];
    for (const [name, member] of Object.entries(entity)) {
      if (SKIP.has(name)) continue;
      const instances = Array.isArray(member) ? member : [member];
      for (const inst of instances) {
        const label = inst.datasetId ? `${name} (${inst.datasetId.split(":").pop()})` : name;
        const when = inst.observedAt ? C.el("span", { class: "muted" }, " · ", C.fmt.dateTime(inst.observedAt)) : null;
        rows.push(C.el("dt", null, label), C.el("dd", { dataset: { attr: name, value: typeof inst.value === "number" ? String(inst.value) : "" } }, shown(inst), when));
        if (inst.type === "Property" && typeof inst.value === "number" && !numeric.includes(name)) numeric.push(name);
      }
    }
    $("#entity-attributes").replaceChildren(...rows);
    if (entity.name) {
      const name = Array.isArray(entity.name) ? entity.name[0] : entity.name;
      if (typeof name.value === "string") $("#entity-title").textContent = name.value;
    }
  }

  async function showEntity() {
    const entity = await C.api(`/ngsi-ld/v1/entities/${enc}`);
    attributes(entity);
    return entity;
  }

  async function showDevice() {
    const answer = await C.api(`/api/v1/devices?entityId=${enc}`);
    if (!answer.items.length) return;
    const blocks = answer.items.map((d) => {
      const item = (label, value, key) => [C.el("dt", null, label), C.el("dd", { dataset: { field: key } }, value)];
      return C.el("dl", { class: "attributes", dataset: { device: d.id } }, [
        item(C.t("Device"), C.el("a", { href: "/devices/" + encodeURIComponent(d.id) }, d.name), "name"),
        item(C.t("Model"), d.deviceModel, "model"),
        item(C.t("Network"), d.network, "network"),
        item(C.t("Status"), STATUSES[d.status] || d.status, "status"),
        item(C.t("Battery"), d.battery === null ? "–" : D.percent(d.battery), "battery"),
        item(C.t("Last seen"), d.lastSeen ? C.fmt.dateTime(d.lastSeen) : C.t("Never"), "lastSeen"),
        item(C.t("Radio signal (RSSI)"), d.rssi === null ? "–" : `${C.fmt.number(d.rssi, 0)} dBm`, "rssi"),
        item(C.t("Signal-to-noise ratio (SNR)"), d.snr === null ? "–" : `${C.fmt.number(d.snr, 1)} dB`, "snr"),
        item(C.t("Gateways"), d.gateways === null ? "–" : C.fmt.number(d.gateways, 0), "gateways"),
      ].flat());
    });
    $("#entity-device").replaceChildren(...blocks);
    window.CalanqueEntity.devices = answer.items;
    document.dispatchEvent(new CustomEvent("calanque:devices", { detail: answer.items }));
  }

  function state() {
    const s = page.state;
    if (!s) return;
    const parts = [D.state(s.level, C.t(s.label, s.params || {}))];
    if (s.attention) parts.push(C.el("strong", null, " · ", C.t("Needs attention today")));
    $("#entity-state").replaceChildren(...parts);
    $("#entity-state").dataset.level = s.level;
  }

  const has = (type) => page.types.includes(type);

  async function alerts() {
    const found = [];
    const since = new Date(Date.now() - 7 * 86400000).toISOString();
    if (has("WasteContainer")) {
      const data = await C.api(`/api/v1/waste/${enc}/incidents?from=${since}`);
      data.incidents.forEach((i) => found.push({ level: i.kind === "overflow" ? "bad" : "warn", what: INCIDENTS[i.kind] || i.kind, since: i.startedAt, until: i.endedAt, detail: i.detail }));
    }
    if (has("Streetlight")) {
      const data = await C.api("/api/v1/lighting/faults");
      data.faults.filter((f) => f.id === id).forEach((f) => found.push({ level: "bad", what: INCIDENTS[f.kind] || f.kind, since: f.startedAt, until: f.endedAt, detail: f.detail }));
    }
    if (has("FloodMonitoring") || has("WaterObserved")) {
      const s = await C.api(`/api/v1/water/${enc}/status`);
      if (s.colour !== "green") found.push({ level: s.colour, what: C.t("Vigilance {colour}", { colour: COLOURS[s.colour] || s.colour }), since: s.observed_at, detail: s.reason });
    }
    if (has("WaterQualityObserved")) {
      const q = await C.api(`/api/v1/water/${enc}/quality`);
      q.violations.forEach((v) => found.push({ level: "bad", what: v.parameter, detail: v.message }));
    }
    if (has("NoiseLevelObserved")) {
      const d = await C.api(`/api/v1/noise/${enc}/daily?from=${D.today(-6)}&to=${D.today(1)}`);
      d.days.filter((r) => r.lden_exceeds || r.lnight_exceeds).forEach((r) => found.push({
        level: "high", what: r.lden_exceeds ? C.t("Lden above the guideline") : C.t("Lnight above the guideline"),
        since: r.start, detail: `Lden ${C.fmt.number(r.Lden, 1)} / Lnight ${C.fmt.number(r.Lnight, 1)} dB(A)` }));
    }
    if (!found.length) return;
    D.table($("#entity-alerts"), [
      { key: "what", label: C.t("Alert"), render: (a) => D.state(a.level, a.what) },
      { key: "since", label: C.t("Since"), render: (a) => (a.since ? C.fmt.dateTime(a.since) : "–") },
      { key: "until", label: C.t("Ended"), render: (a) => (a.until ? C.fmt.dateTime(a.until) : C.t("Going on")) },
      { key: "detail", label: C.t("Detail") },
    ], found, C.t("Alerts of the last 7 days"));
  }

  async function history() {
    const holder = $("#entity-history");
    if (!numeric.length) {
      holder.replaceChildren(C.el("p", { class: "muted" }, C.t("This asset has no numeric attribute to chart.")));
      return;
    }
    const hours = Number($("#history-period").value);
    const to = new Date();
    const from = new Date(to.getTime() - hours * 3600000);
    const query = new URLSearchParams({ attrs: numeric.join(","), timerel: "between", timeAt: from.toISOString(),
      endTimeAt: to.toISOString(), options: "temporalValues" });
    const body = await D.load(holder, C.api(`/ngsi-ld/v1/temporal/entities/${enc}?${query}`));
    const charts = numeric.map((name) => {
      const members = [].concat(body[name] || []);
      const element = C.el("div", { class: "chart", role: "figure", dataset: { attr: name }, "aria-label": C.t("History of {name}", { name }) });
      const traces = members.map((m) => ({
        type: "scatter", mode: "lines", name: m.datasetId ? m.datasetId.split(":").pop() : name,
        x: (m.values || []).map((v) => D.local(v[1])), y: (m.values || []).map((v) => v[0]),
      }));
      const code = members.length && members[0].unitCode ? unit(members[0].unitCode) : "";
      return [element, traces, code];
    });
    holder.replaceChildren(...charts.map(([el, , ]) => C.el("div", null, C.el("h3", null, el.dataset.attr), el)));
    await Promise.all(charts.map(([el, traces, code]) => D.plot(el, traces, {
      xaxis: D.TIME_AXIS, yaxis: { title: { text: code } }, showlegend: traces.length > 1,
    }).then(() => { el.dataset.points = String(traces.reduce((n, t) => n + t.x.length, 0)); })));
    holder.dataset.ready = "true";
  }

  window.CalanqueEntity = { id, devices: [] };
  state();
  showEntity().then(history).catch(C.showError);
  showDevice().catch(C.showError);
  alerts().catch(C.showError);
  $("#history-period").addEventListener("change", () => history().catch(C.showError));
  C.subscribe((changes) => {
    if (changes.some((c) => c.id === id)) {
      showEntity().catch(C.showError);
      showDevice().catch(C.showError);
    }
  }, { ids: [id] });
})();
