/* Noise dashboard: GET /api/v1/noise/observatory, /{id}/hourly and /{id}/daily. */
(function () {
  "use strict";
  const C = window.Calanque;
  const D = window.CalanqueDashboards;
  const $ = (selector) => document.querySelector(selector);
  const API = "/api/v1/noise";
  const dateInput = $("#noise-date");
  const sensorSelect = $("#noise-sensor");

  function db(value) {
    return value === null || value === undefined ? "–" : C.fmt.number(value, 1);
  }

  function flag(value) {
    if (value === null || value === undefined) return D.state("unknown", C.t("No value"));
    return value ? D.state("bad", C.t("Exceeded")) : D.state("ok", C.t("Below"));
  }

  async function showDay() {
    const date = dateInput.value;
    D.setParam("date", date);
    const data = await D.load($("#noise-table"), C.api(`${API}/observatory?date=${date}&limit=1000`));
    for (const key of ["sensors", "withLden", "ldenExceedances", "lnightExceedances"]) {
      D.figure(document.querySelector(`[data-figure="${key}"]`), data.summary[key]);
    }
    document.querySelector('[data-label="lden"]').textContent =
      C.t("Sensors above the Lden guideline ({value} dB(A))", { value: C.fmt.number(data.thresholds.Lden) });
    document.querySelector('[data-label="lnight"]').textContent =
      C.t("Sensors above the Lnight guideline ({value} dB(A))", { value: C.fmt.number(data.thresholds.Lnight) });
    const sensors = data.sensors;
    const names = sensors.map((s) => s.name || s.entityId.split(":").pop());
    const line = (y, colour) => ({ type: "line", xref: "paper", x0: 0, x1: 1, y0: y, y1: y, line: { dash: "dash", color: colour, width: 2 } });
    D.plot($("#noise-chart"), [
      { type: "bar", name: "Lden", x: names, y: sensors.map((s) => s.Lden), marker: { color: "#1f6fb2" } },
      { type: "bar", name: "Lnight", x: names, y: sensors.map((s) => s.Lnight), marker: { color: "#5f3dc4" } },
    ], {
      barmode: "group", yaxis: { title: { text: "dB(A)" }, rangemode: "tozero" }, margin: { l: 56, r: 16, t: 36, b: 150 },
      shapes: [line(data.thresholds.Lden, "#1f6fb2"), line(data.thresholds.Lnight, "#5f3dc4")],
    });
    D.table($("#noise-table"), [
      { key: "name", label: C.t("Sensor"), render: (s) => D.link(s.entityId, s.name || s.entityId) },
      { key: "Lden", label: "Lden (dB(A))", num: true, render: (s) => db(s.Lden) },
      { key: "Lnight", label: "Lnight (dB(A))", num: true, render: (s) => db(s.Lnight) },
      { key: "coverage", label: C.t("Coverage"), num: true, render: (s) => D.percent(s.coverage) },
      { key: "lden_exceeds", label: C.t("Lden guideline"), render: (s) => flag(s.lden_exceeds) },
      { key: "lnight_exceeds", label: C.t("Lnight guideline"), render: (s) => flag(s.lnight_exceeds) },
    ], sensors.map((s) => Object.assign({ __key: s.entityId }, s)),
    C.t("Noise indicators of {date}, local time (Europe/Paris)", { date: C.fmt.date(data.date + "T12:00:00") }));
    if (!sensorSelect.options.length) {
      sensors.forEach((s, i) => sensorSelect.append(C.el("option", { value: s.entityId }, names[i])));
      const chosen = D.param("sensor", sensors.length ? sensors[0].entityId : "");
      if (chosen) sensorSelect.value = chosen;
      await showSensor();
    }
  }

  async function showSensor() {
    const id = sensorSelect.value;
    if (!id) return;
    D.setParam("sensor", id);
    const section = $("#noise-profile").parentElement;
    const [hourly, daily] = await D.load(section, Promise.all([
      C.api(`${API}/${encodeURIComponent(id)}/hourly`),
      C.api(`${API}/${encodeURIComponent(id)}/daily?from=${D.today(-6)}&to=${D.today(1)}`),
    ]));
    $("#noise-profile-laeq").textContent = C.t("LAeq over the 24 hours: {value} dB(A)", { value: db(hourly.LAeq) });
    $("#noise-profile-laeq").dataset.value = hourly.LAeq === null ? "" : String(hourly.LAeq);
    D.plot($("#noise-profile"), [{
      type: "bar", name: "LAeq", x: hourly.hours.map((h) => D.shortTime(h.start)), y: hourly.hours.map((h) => h.LAeq),
      marker: { color: "#1f6fb2" }, hovertemplate: "%{x}: %{y:.1f} dB(A)<extra></extra>",
    }], { yaxis: { title: { text: "LAeq (dB(A))" } }, xaxis: { type: "category", title: { text: C.t("Hour (local time)") } } });
    const days = daily.days.map((d) => D.day(d.day));
    D.plot($("#noise-daily"), [
      { type: "scatter", mode: "lines+markers", name: "Lden", x: days, y: daily.days.map((d) => d.Lden) },
      { type: "scatter", mode: "lines+markers", name: "Lnight", x: days, y: daily.days.map((d) => d.Lnight) },
    ], { yaxis: { title: { text: "dB(A)" } }, xaxis: { type: "category", title: { text: C.t("Day") } } });
  }

  dateInput.value = D.param("date", D.today(-1));
  $("#noise-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    showDay().catch(C.showError);
  });
  sensorSelect.addEventListener("change", () => showSensor().catch(C.showError));
  showDay().catch(C.showError);
})();
