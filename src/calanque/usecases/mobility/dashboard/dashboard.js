/* Mobility dashboard: GET /api/v1/mobility/{id}/counts, /profile and /summary for each counter. */
(function () {
  "use strict";
  const C = window.Calanque;
  const D = window.CalanqueDashboards;
  const $ = (selector) => document.querySelector(selector);
  const API = "/api/v1/mobility";
  const WEEKDAYS = [C.t("Monday"), C.t("Tuesday"), C.t("Wednesday"), C.t("Thursday"), C.t("Friday"), C.t("Saturday"), C.t("Sunday")];
  const KINDS = { TrafficFlowObserved: C.t("Bicycles"), CrowdFlowObserved: C.t("Pedestrians") };
  let counters = [];

  function count(value) {
    return value === null || value === undefined ? "–" : C.fmt.number(Math.round(value), 0);
  }

  async function showCounters() {
    const days = Number($("#mobility-days").value);
    D.setParam("days", String(days));
    const from = D.midnight(D.today(1 - days));
    const to = D.midnight(D.today(1));
    const section = $("#mobility-table");
    const rows = await D.load(section, Promise.all(counters.map((e) =>
      C.api(`${API}/${encodeURIComponent(e.id)}/counts?step=day&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`)
        .then((c) => ({ __key: e.id, entity: e, name: D.name(e), counts: c, total: c.total,
          today: c.buckets.length ? c.buckets[c.buckets.length - 1].total : null })))));
    const sum = (type) => rows.filter((r) => r.entity.type === type).reduce((a, r) => a + (r.total || 0), 0);
    D.figure(document.querySelector('[data-figure="counters"]'), rows.length);
    D.figure(document.querySelector('[data-figure="bikes"]'), sum("TrafficFlowObserved"), count(sum("TrafficFlowObserved")));
    D.figure(document.querySelector('[data-figure="pedestrians"]'), sum("CrowdFlowObserved"), count(sum("CrowdFlowObserved")));
    D.plot($("#mobility-chart"), Object.entries(KINDS).map(([type, label]) => {
      const mine = rows.filter((r) => r.entity.type === type);
      return { type: "bar", name: label, x: mine.map((r) => r.name), y: mine.map((r) => r.total) };
    }), { xaxis: { type: "category" }, yaxis: { title: { text: C.t("Passages") }, rangemode: "tozero" }, margin: { l: 64, r: 16, t: 36, b: 150 } });
    D.table(section, [
      { key: "name", label: C.t("Counter"), render: (r) => D.link(r.entity.id, r.name) },
      { key: "kind", label: C.t("Counts"), value: (r) => r.entity.type, render: (r) => KINDS[r.entity.type] || r.entity.type },
      { key: "total", label: C.t("Over the period"), num: true, render: (r) => count(r.total) },
      { key: "today", label: C.t("Today"), num: true, render: (r) => count(r.today) },
    ], rows, C.t("Passages from {from} to {to} (local time)", {
      from: C.fmt.date(D.today(1 - days) + "T12:00:00"), to: C.fmt.date(D.today(0) + "T12:00:00") }));
  }

  async function showCounter() {
    const id = $("#mobility-counter").value;
    if (!id) return;
    D.setParam("counter", id);
    const base = `${API}/${encodeURIComponent(id)}`;
    const from = D.midnight(D.today(-1));
    const [summary, hourly, profile] = await D.load($("#mobility-hourly").parentElement, Promise.all([
      C.api(`${base}/summary`),
      C.api(`${base}/counts?step=hour&from=${encodeURIComponent(from)}&to=${encodeURIComponent(D.midnight(D.today(1)))}`),
      C.api(`${base}/profile`),
    ]));
    const yoy = summary.yearOnYear;
    D.figure(document.querySelector('[data-figure="yearToDate"]'), summary.yearToDate, count(summary.yearToDate));
    D.figure(document.querySelector('[data-figure="previous"]'), yoy.previous, count(yoy.previous));
    D.figure(document.querySelector('[data-figure="changePercent"]'), yoy.changePercent,
      yoy.changePercent === null ? C.t("No data last year") : (yoy.changePercent > 0 ? "+" : "") + C.fmt.number(yoy.changePercent, 1) + " %");
    const busiest = summary.busiestHour;
    D.figure(document.querySelector('[data-figure="busiestHour"]'), busiest ? busiest.count : null, busiest ? count(busiest.count) : "–");
    $("#mobility-busiest").textContent = busiest
      ? C.t("Busiest hour this year: {when}", { when: C.fmt.dateTime(busiest.start) }) : C.t("Busiest hour this year");
    D.plot($("#mobility-hourly"), [{
      type: "bar", x: hourly.buckets.map((b) => D.local(b.start)), y: hourly.buckets.map((b) => b.total), marker: { color: "#1f6fb2" },
    }], { xaxis: D.TIME_AXIS, yaxis: { title: { text: C.t("Passages per hour") }, rangemode: "tozero" } });
    const z = WEEKDAYS.map((_, day) => Array.from({ length: 24 }, (_, hour) => {
      const cell = profile.cells.find((c) => c.weekday === day && c.hour === hour);
      return cell ? cell.average : null;
    }));
    D.plot($("#mobility-heatmap"), [{
      type: "heatmap", z, x: Array.from({ length: 24 }, (_, h) => `${String(h).padStart(2, "0")}:00`), y: WEEKDAYS,
      colorscale: "Blues", reversescale: true, hoverongaps: false, colorbar: { title: { text: C.t("Average per hour") } },
      hovertemplate: "%{y} %{x}: %{z:.1f}<extra></extra>",
    }], { yaxis: { autorange: "reversed", type: "category" }, xaxis: { type: "category" }, margin: { l: 90, r: 16, t: 16, b: 48 } });
  }

  async function start() {
    counters = (await Promise.all(["TrafficFlowObserved", "CrowdFlowObserved"].map((t) => D.entities(t)))).flat();
    $("#mobility-days").value = D.param("days", "7");
    counters.forEach((e) => $("#mobility-counter").append(C.el("option", { value: e.id }, D.name(e))));
    if (counters.length) $("#mobility-counter").value = D.param("counter", counters[0].id);
    await Promise.all([showCounters(), showCounter()]);
  }

  $("#mobility-days").addEventListener("change", () => showCounters().catch(C.showError));
  $("#mobility-counter").addEventListener("change", () => showCounter().catch(C.showError));
  start().catch(C.showError);
})();
