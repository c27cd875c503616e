/* Lighting dashboard: GET /api/v1/lighting/network, /faults, /energy and /schedule. */
(function () {
  "use strict";
  const C = window.Calanque;
  const D = window.CalanqueDashboards;
  const $ = (selector) => document.querySelector(selector);
  const API = "/api/v1/lighting";
  const FAULTS = {
    lampFailure: C.t("Lamp failure"), dayBurner: C.t("Lit in daylight"), cycling: C.t("Cycling on and off"),
    communicationLoss: C.t("Communication lost"),
  };

  function set(key, value, text) {
    D.figure(document.querySelector(`[data-figure="${key}"]`), value, text);
  }

  function short(id) {
    return id ? id.split(":").pop() : "–";
  }

  async function showNetwork() {
    const data = await C.api(`${API}/network`);
    for (const key of ["lights", "lit", "dimmed", "off", "silent", "reportedFaulty"]) set(key, data[key]);
    set("powerW", data.powerW, C.fmt.number(data.powerW, 0));
  }

  async function showFaults() {
    const section = $("#lighting-faults");
    const data = await D.load(section, C.api(`${API}/faults`));
    set("faults", data.faults.length);
    D.table(section, [
      { key: "id", label: C.t("Streetlight"), render: (f) => D.link(f.id, short(f.id)) },
      { key: "group", label: C.t("Group"), render: (f) => short(f.group) },
      { key: "kind", label: C.t("Fault"), value: (f) => f.kind, render: (f) => D.state("bad", FAULTS[f.kind] || f.kind) },
      { key: "startedAt", label: C.t("Since"), render: (f) => C.fmt.dateTime(f.startedAt) },
      { key: "detail", label: C.t("Detail") },
    ], data.faults.map((f) => Object.assign({ __key: `${f.id}#${f.kind}` }, f)),
    C.t("Faults still open, found over the last 24 hours"));
  }

  async function showEnergy() {
    const data = await D.load($("#lighting-energy").parentElement, C.api(`${API}/energy`));
    const total = data.total;
    set("consumedKwh", total.consumedKwh, C.fmt.number(total.consumedKwh, 1));
    set("baselineKwh", total.baselineKwh, C.fmt.number(total.baselineKwh, 1));
    set("savedKwh", total.savedKwh, C.fmt.number(total.savedKwh, 1));
    set("savedPct", total.savedPct, total.savedPct === null ? "–" : C.fmt.number(total.savedPct, 1) + " %");
    const names = data.groups.map((g) => short(g.id));
    D.plot($("#lighting-energy"), [
      { type: "bar", name: C.t("Consumed (kWh)"), x: names, y: data.groups.map((g) => g.consumedKwh), marker: { color: "#1f6fb2" } },
      { type: "bar", name: C.t("Saved (kWh)"), x: names, y: data.groups.map((g) => g.savedKwh), marker: { color: "#2e8540" } },
    ], { barmode: "stack", xaxis: { type: "category" }, yaxis: { title: { text: "kWh" }, rangemode: "tozero" } });
  }

  async function showSchedule() {
    const section = $("#lighting-schedule");
    const data = await D.load(section, C.api(`${API}/schedule`));
    const dimming = (g) => g.switches.slice(1, -1).map((s) => `${D.shortTime(s.time)} → ${C.fmt.number(s.level * 100, 0)} %`).join(", ") || "–";
    D.table(section, [
      { key: "id", label: C.t("Group"), render: (g) => D.link(g.id, short(g.id)) },
      { key: "sunset", label: C.t("Sunset"), render: (g) => D.shortTime(g.sunset) },
      { key: "switchOn", label: C.t("Switch on"), render: (g) => D.shortTime(g.switchOn) },
      { key: "dimming", label: C.t("Dimming"), render: dimming },
      { key: "switchOff", label: C.t("Switch off"), render: (g) => D.shortTime(g.switchOff) },
      { key: "sunrise", label: C.t("Sunrise"), render: (g) => D.shortTime(g.sunrise) },
      { key: "hoursOn", label: C.t("Hours on"), num: true, digits: 1 },
    ], data.groups.map((g) => Object.assign({ __key: g.id }, g)),
    C.t("Night of {date}, local time", { date: C.fmt.date(data.date + "T12:00:00") }));
    D.plot($("#lighting-levels"), data.groups.map((g) => ({
      type: "scatter", mode: "lines", line: { shape: "hv" }, name: short(g.id),
      x: g.switches.map((s) => D.local(s.time)), y: g.switches.map((s) => s.level * 100),
    })), { xaxis: D.TIME_AXIS, yaxis: { title: { text: C.t("Level (% of full power)") }, range: [0, 105] } });
  }

  Promise.all([showNetwork(), showFaults(), showEnergy(), showSchedule()]).catch(C.showError);
})();
