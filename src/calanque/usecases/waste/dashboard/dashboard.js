/* Waste dashboard: GET /api/v1/waste/fill-distribution, /collection-plan and /incidents. */
(function () {
  "use strict";
  const C = window.Calanque;
  const D = window.CalanqueDashboards;
  const $ = (selector) => document.querySelector(selector);
  const API = "/api/v1/waste";
  const KINDS = { glass: C.t("Glass"), paper: C.t("Paper"), packaging: C.t("Packaging") };
  const INCIDENTS = {
    overflow: C.t("Overflow"), prolongedHighFill: C.t("Prolonged high fill"), stuckSensor: C.t("Stuck sensor"),
    impossibleJump: C.t("Impossible fill jump"), tilted: C.t("Container dropped"), moved: C.t("Container moved"),
  };
  const kindSelect = $("#waste-kind");
  const dateInput = $("#waste-date");
  let round = null;

  function kindName(kind) {
    return KINDS[kind] || kind;
  }

  async function showDistribution() {
    const data = await D.load($("#waste-histogram").parentElement, C.api(`${API}/fill-distribution?date=${dateInput.value}`));
    for (const key of ["containers", "withFill", "atThreshold"]) D.figure(document.querySelector(`[data-figure="${key}"]`), data[key]);
    D.figure(document.querySelector('[data-figure="meanFill"]'), data.meanFill, D.percent(data.meanFill));
    D.plot($("#waste-histogram"), [{
      type: "bar", x: data.bins.map((b) => `${Math.round(b.from * 100)}–${Math.round(b.to * 100)} %`),
      y: data.bins.map((b) => b.count), marker: { color: "#1f6fb2" },
      hovertemplate: "%{x}: %{y}<extra></extra>",
    }], { xaxis: { title: { text: C.t("Fill") }, type: "category" }, yaxis: { title: { text: C.t("Containers") }, dtick: 1, rangemode: "tozero" } });
    return data;
  }

  async function showPlan() {
    const kind = kindSelect.value;
    const date = dateInput.value;
    D.setParam("kind", kind);
    D.setParam("date", date);
    const section = $("#waste-stops");
    const plan = await D.load(section, C.api(`${API}/collection-plan?date=${date}&kind=${encodeURIComponent(kind)}`));
    D.figure(document.querySelector('[data-figure="selected"]'), plan.selected);
    D.figure(document.querySelector('[data-figure="lengthKm"]'), plan.lengthKm, C.fmt.number(plan.lengthKm, 1));
    D.figure(document.querySelector('[data-figure="considered"]'), plan.containers);
    D.table(section, [
      { key: "order", label: C.t("Stop"), num: true },
      { key: "id", label: C.t("Container"), render: (s) => D.link(s.id, s.id.split(":").pop()) },
      { key: "fill", label: C.t("Fill now"), num: true, render: (s) => D.percent(s.fill) },
      { key: "predictedFill", label: C.t("Fill on the day"), num: true, render: (s) => D.percent(s.predictedFill) },
      { key: "predictedFillAtNextCollection", label: C.t("Fill at the next collection"), num: true,
        render: (s) => D.percent(s.predictedFillAtNextCollection) },
    ], plan.stops.map((s) => Object.assign({ __key: s.id }, s)),
    C.t("{kind}: round of {date}, next collection on {next}", {
      kind: kindName(plan.kind), date: C.fmt.date(plan.date + "T12:00:00"), next: C.fmt.date(plan.nextCollectionDate + "T12:00:00"),
    }));
    drawRound(plan);
  }

  function drawRound(plan) {
    if (!round) {
      round = D.map($("#waste-map"));
      round.layer = L.layerGroup().addTo(round.map);
    }
    round.layer.clearLayers();
    const depot = [plan.depot.lat, plan.depot.lon];
    const path = [depot, ...plan.stops.map((s) => [s.location.lat, s.location.lon]), depot];
    L.polyline(path, { color: "#0f3557", weight: 3, opacity: 0.85 }).addTo(round.layer);
    L.circleMarker(depot, { radius: 9, color: "#1b1f24", weight: 2, fillColor: "#ffbf47", fillOpacity: 1 })
      .bindTooltip(C.t("Depot")).addTo(round.layer);
    for (const stop of plan.stops) {
      const level = stop.fill >= stop.threshold ? "bad" : stop.predictedFill >= stop.threshold ? "high" : "warn";
      window.CalanqueMap.marker(stop.location.lat, stop.location.lon, level, round.renderer, { radius: 7 })
        .bindTooltip(`${stop.order}. ${stop.id.split(":").pop()} (${D.percent(stop.fill)})`).addTo(round.layer);
    }
    round.map.fitBounds(L.latLngBounds(path).pad(0.1));
    $("#waste-map").dataset.stops = String(plan.stops.length);
  }

  async function showIncidents() {
    const to = new Date();
    const from = new Date(to.getTime() - 30 * 86400000);
    const section = $("#waste-incidents");
    const data = await D.load(section, C.api(`${API}/incidents?from=${from.toISOString()}&to=${to.toISOString()}`));
    const days = [];
    for (let k = 29; k >= 0; k--) days.push(D.today(-k));
    const dayOf = (iso) => new Intl.DateTimeFormat("en-CA", { timeZone: D.ZONE }).format(new Date(iso));
    const kinds = Array.from(new Set(data.incidents.map((i) => i.kind)));
    D.plot($("#waste-incidents-chart"), kinds.map((kind) => ({
      type: "bar", name: INCIDENTS[kind] || kind, x: days.map(D.day),
      y: days.map((d) => data.incidents.filter((i) => i.kind === kind && dayOf(i.startedAt) === d).length),
    })), { barmode: "stack", xaxis: { type: "category" }, yaxis: { title: { text: C.t("Incidents") }, rangemode: "tozero" } });
    $("#waste-incidents-chart").dataset.incidents = String(data.incidents.length);
    const latest = data.incidents.slice().sort((a, b) => (a.startedAt < b.startedAt ? 1 : -1)).slice(0, 50);
    D.table(section, [
      { key: "id", label: C.t("Container"), render: (i) => D.link(i.id, i.id.split(":").pop()) },
      { key: "kind", label: C.t("Incident"), render: (i) => D.state(i.kind === "overflow" ? "bad" : "warn", INCIDENTS[i.kind] || i.kind) },
      { key: "startedAt", label: C.t("Started"), render: (i) => C.fmt.dateTime(i.startedAt) },
      { key: "endedAt", label: C.t("Ended"), render: (i) => (i.endedAt ? C.fmt.dateTime(i.endedAt) : C.t("Going on")) },
      { key: "detail", label: C.t("Detail") },
    ], latest, C.t("{count} incidents over {containers} containers", { count: data.incidents.length, containers: data.containers }));
  }

  async function start() {
    dateInput.value = D.param("date", D.today(0));
    const data = await showDistribution();
    for (const kind of Object.keys(data.collectionDays)) kindSelect.append(C.el("option", { value: kind }, kindName(kind)));
    kindSelect.value = D.param("kind", data.collectedOnDate[0] || Object.keys(data.collectionDays)[0]);
    $("#waste-collected").textContent = data.collectedOnDate.length
      ? C.t("Collected on this day: {kinds}", { kinds: data.collectedOnDate.map(kindName).join(", ") })
      : C.t("No collection is planned on this day.");
    await Promise.all([showPlan(), showIncidents()]);
  }

  $("#waste-plan-form").addEventListener("submit", (event) => {
    event.preventDefault();
    showPlan().catch(C.showError);
  });
  start().catch(C.showError);
})();
