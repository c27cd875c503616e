/* Commands of the entity page (loaded only for those allowed to send them): POST /api/v1/commands for the
 * entity, then its status followed through GET /api/v1/commands/{id} until the network acknowledges it. */
(function () {
  "use strict";
  const C = window.Calanque;
  const D = window.CalanqueDashboards;
  const E = window.CalanqueEntity;
  const $ = (selector) => document.querySelector(selector);
  const STATUS = { queued: C.t("queued"), sent: C.t("sent"), acknowledged: C.t("acknowledged"), failed: C.t("failed") };
  const power = $("#command-power");
  const dimming = $("#command-dimming");

  function describe(request) {
    if (request.powerState === "off") return C.t("Switch off");
    if (request.dimmingLevel !== undefined) return C.t("On at {level} %", { level: request.dimmingLevel });
    return C.t("Switch on");
  }

  async function showHistory() {
    const lists = await Promise.all(E.devices.map((d) => C.api(`/api/v1/commands?device=${encodeURIComponent(d.id)}&limit=10`)));
    const rows = lists.flat().sort((a, b) => b.id - a.id).slice(0, 10);
    D.table($("#command-history"), [
      { key: "id", label: C.t("Command"), num: true },
      { key: "request", label: C.t("Asked"), render: (c) => describe(c.request) },
      { key: "status", label: C.t("Status"), value: (c) => c.status,
        render: (c) => D.state(c.status === "acknowledged" ? "ok" : c.status === "failed" ? "bad" : "info", STATUS[c.status] || c.status) },
      { key: "createdAt", label: C.t("Sent"), render: (c) => C.fmt.dateTime(c.createdAt) },
      { key: "error", label: C.t("Error") },
    ], rows.map((c) => Object.assign({ __key: String(c.id) }, c)), C.t("Latest commands of this asset"));
  }

  async function follow(ids) {
    for (let round = 0; round < 15; round++) {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const records = await Promise.all(ids.map((n) => C.api(`/api/v1/commands/${n}`)));
      await showHistory();
      if (records.every((r) => r.status === "acknowledged" || r.status === "failed")) return;
    }
  }

  if (power && dimming) {
    const sync = () => { dimming.disabled = power.value === "off"; };
    power.addEventListener("change", sync);
    sync();
  }

  $("#command-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const command = {};
    if (power) command.powerState = power.value;
    if (dimming && !(power && power.value === "off")) command.dimmingLevel = Number(dimming.value);
    const button = $("#command-send");
    const result = $("#command-result");
    button.disabled = true;
    try {
      const records = await C.api("/api/v1/commands", { method: "POST", body: { entity: E.id, command } });
      result.textContent = C.t("Command {ids} recorded: {status}", {
        ids: records.map((r) => r.id).join(", "), status: records.map((r) => STATUS[r.status] || r.status).join(", "),
      });
      result.dataset.commands = records.map((r) => r.id).join(",");
      await showHistory();
      follow(records.map((r) => r.id)).catch(C.showError);
    } catch (err) {
      result.textContent = "";
      C.showError(err);
    } finally {
      button.disabled = false;
    }
  });

  document.addEventListener("calanque:devices", () => showHistory().catch(C.showError));
  if (E.devices.length) showHistory().catch(C.showError);
})();
