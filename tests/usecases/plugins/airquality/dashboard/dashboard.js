/* Air-quality dashboard (the example of a use case that brings its own page): GET /api/v1/airquality/{id}/no2. */
(function () {
  "use strict";
  const C = window.Calanque;
  const D = window.CalanqueDashboards;
  const $ = (selector) => document.querySelector(selector);

  async function show() {
    const stations = await D.entities("AirQualityObserved");
    const rows = await Promise.all(stations.map((s) => C.api(`/api/v1/airquality/${encodeURIComponent(s.id)}/no2`)
      .then((m) => Object.assign({ __key: s.id, name: D.name(s) }, m))));
    D.table($("#airquality-table"), [
      { key: "name", label: C.t("Station"), render: (r) => D.link(r.entityId, r.name) },
      { key: "mean", label: C.t("Mean NO2 (µg/m³)"), num: true, digits: 1 },
      { key: "samples", label: C.t("Readings"), num: true },
    ], rows, C.t("Last 24 hours"));
    D.plot($("#airquality-chart"), [{ type: "bar", x: rows.map((r) => r.name), y: rows.map((r) => r.mean) }],
      { xaxis: { type: "category" }, yaxis: { title: { text: "µg/m³" } } });
  }

  show().catch(C.showError);
})();
