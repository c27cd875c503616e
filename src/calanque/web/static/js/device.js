/* One device: GET /api/v1/devices/{id}, its commands (/api/v1/commands?device=) and dead letters. */
(function () {
  "use strict";
  const C = window.Calanque;
  const D = window.CalanqueDashboards;
  const id = C.config.page.id;
  const enc = encodeURIComponent(id);
  const $ = (selector) => document.querySelector(selector);
  const STATUSES = { active: C.t("active"), inactive: C.t("inactive"), maintenance: C.t("maintenance"),
    decommissioned: C.t("decommissioned") };

  function list(el, items) {
    el.replaceChildren(...items.flatMap(([label, value, key]) => [
      C.el("dt", null, label), C.el("dd", { dataset: { field: key } }, value === null || value === undefined || value === "" ? "–" : value)]));
  }

  async function show() {
    const d = await C.api(`/api/v1/devices/${enc}`);
    $("#device-title").textContent = d.name;
    list($("#device-link"), [
      [C.t("Last seen"), d.lastSeen ? C.fmt.dateTime(d.lastSeen) : C.t("Never"), "lastSeen"],
      [C.t("Battery"), d.battery === null ? null : D.percent(d.battery), "battery"],
      [C.t("Radio signal (RSSI)"), d.rssi === null ? null : `${C.fmt.number(d.rssi, 0)} dBm`, "rssi"],
      [C.t("Signal-to-noise ratio (SNR)"), d.snr === null ? null : `${C.fmt.number(d.snr, 1)} dB`, "snr"],
      [C.t("Gateways"), d.gateways, "gateways"],
      [C.t("Frame counter"), d.lastFcnt, "lastFcnt"],
      [C.t("Counter resets"), d.fcntResets, "fcntResets"],
      [C.t("Expected period"), d.expectedPeriod ? C.t("{n} min", { n: C.fmt.number(d.expectedPeriod / 60, 0) }) : null, "expectedPeriod"],
    ]);
    list($("#device-config"), [
      [C.t("Device"), d.id, "id"],
      [C.t("Asset"), D.link(d.entityId, d.entityId), "entityId"],
      [C.t("Asset type"), C.t(d.entityType), "entityType"],
      [C.t("Model"), d.deviceModel, "deviceModel"],
      [C.t("Codec"), d.codec, "codec"],
      [C.t("Network"), d.network, "network"],
      [C.t("Status"), STATUSES[d.status] || d.status, "status"],
      [C.t("Commune (INSEE code)"), d.commune, "commune"],
      [C.t("Site"), d.site, "site"],
      [C.t("Installed on"), d.installedOn ? C.fmt.date(d.installedOn + "T12:00:00") : null, "installedOn"],
    ]);
    D.table($("#device-mapping"), [
      { key: "key", label: C.t("Measurement") },
      { key: "attribute", label: C.t("Attribute") },
      { key: "unitCode", label: C.t("Unit code") },
      { key: "scale", label: C.t("Scale"), num: true },
    ], Object.entries(d.mapping).map(([key, m]) => Object.assign({ key }, m)), null);
  }

  async function commands() {
    const rows = await C.api(`/api/v1/commands?device=${enc}&limit=10`);
    D.table($("#device-commands"), [
      { key: "id", label: C.t("Command"), num: true },
      { key: "request", label: C.t("Asked"), render: (c) => JSON.stringify(c.request) },
      { key: "status", label: C.t("Status"), render: (c) => C.t(c.status) },
      { key: "createdAt", label: C.t("Sent"), render: (c) => C.fmt.dateTime(c.createdAt) },
      { key: "error", label: C.t("Error") },
    ], rows, null);
  }

  async function letters() {
    const data = await C.api(`/api/v1/deadletters?deviceId=${enc}&limit=20`);
    D.table($("#device-letters"), [
      { key: "receivedAt", label: C.t("Received"), render: (l) => C.fmt.dateTime(l.receivedAt) },
      { key: "errorKind", label: C.t("Error") },
      { key: "reason", label: C.t("Detail") },
      { key: "status", label: C.t("Status") },
    ], data.items, null);
  }

  show().catch(C.showError);
  commands().catch(C.showError);
  // dead letters are not shown to viewers (the API refuses them): say so instead of an error
  letters().catch((err) => {
    $("#device-letters").replaceChildren(C.el("p", { class: "muted" }, err.status === 403 ? C.t("Your role may not read them.") : err.message));
  });
})();
