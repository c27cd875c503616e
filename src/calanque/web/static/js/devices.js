/* Device list and silent devices: GET /api/v1/devices with search, filters and pages (silent=true for the
 * silent ones). The filters live in the address bar, so a filtered list can be shared or reloaded. */
(function () {
  "use strict";
  const C = window.Calanque;
  const D = window.CalanqueDashboards;
  const page = C.config.page;
  const $ = (selector) => document.querySelector(selector);
  const LIMIT = 50;
  const STATUSES = { active: C.t("active"), inactive: C.t("inactive"), maintenance: C.t("maintenance"),
    decommissioned: C.t("decommissioned") };
  const FIELDS = ["q", "status", "entityType", "commune", "silentFactor"];
  const form = $("#device-filters");
  let offset = Number(D.param("offset", "0")) || 0;

  function since(lastSeen) {
    if (!lastSeen) return C.t("Never");
    const minutes = Math.round((Date.now() - new Date(lastSeen).getTime()) / 60000);
    if (minutes < 120) return C.t("{n} min ago", { n: minutes });
    if (minutes < 48 * 60) return C.t("{n} h ago", { n: Math.round(minutes / 60) });
    return C.t("{n} days ago", { n: Math.round(minutes / 1440) });
  }

  async function show() {
    const query = new URLSearchParams({ limit: String(LIMIT), offset: String(offset) });
    for (const name of FIELDS) {
      const input = form.elements[name];
      if (input && input.value) query.set(name, input.value.trim());
      D.setParam(name, input ? input.value : "");
    }
    D.setParam("offset", offset ? String(offset) : "");
    if (page.mode === "silent") query.set("silent", "true");
    const data = await D.load($("#device-table"), C.api("/api/v1/devices?" + query));
    $("#device-count").textContent = C.t("{total} devices", { total: data.total });
    $("#device-count").dataset.total = String(data.total);
    D.table($("#device-table"), [
      { key: "id", label: C.t("Device"), render: (d) => C.el("a", { href: "/devices/" + encodeURIComponent(d.id) }, d.id) },
      { key: "name", label: C.t("Name") },
      { key: "deviceModel", label: C.t("Model") },
      { key: "entityId", label: C.t("Asset"), render: (d) => D.link(d.entityId, d.entityId.split(":").pop()) },
      { key: "status", label: C.t("Status"), render: (d) => STATUSES[d.status] || d.status },
      { key: "battery", label: C.t("Battery"), num: true, render: (d) => (d.battery === null ? "–" : D.percent(d.battery)) },
      { key: "rssi", label: "RSSI (dBm)", num: true, render: (d) => (d.rssi === null ? "–" : C.fmt.number(d.rssi, 0)) },
      { key: "lastSeen", label: C.t("Last seen"), render: (d) => C.el("span", { title: d.lastSeen ? C.fmt.dateTime(d.lastSeen) : "" }, since(d.lastSeen)) },
      { key: "expectedPeriod", label: C.t("Expected period"), num: true,
        render: (d) => (d.expectedPeriod ? C.t("{n} min", { n: C.fmt.number(d.expectedPeriod / 60, 0) }) : "–") },
    ], data.items.map((d) => Object.assign({ __key: d.id }, d)),
    page.mode === "silent" ? C.t("Silent devices, by id") : C.t("Devices, by id"));
    $("#device-page").textContent = data.total
      ? C.t("{first}–{last} of {total}", { first: offset + 1, last: offset + data.items.length, total: data.total }) : "";
    $("#device-prev").disabled = offset === 0;
    $("#device-next").disabled = offset + data.items.length >= data.total;
  }

  for (const name of FIELDS) {
    const input = form.elements[name];
    if (input) input.value = D.param(name, input.value);
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    offset = 0;
    show().catch(C.showError);
  });
  $("#device-prev").addEventListener("click", () => { offset = Math.max(0, offset - LIMIT); show().catch(C.showError); });
  $("#device-next").addEventListener("click", () => { offset += LIMIT; show().catch(C.showError); });
  show().catch(C.showError);
})();
