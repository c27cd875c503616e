/* Bulk device import: POST /api/v1/devices/import?dryRun=true shows every row's errors and what would be
 * created or updated; the import itself (all rows in one transaction) is possible only once the checked
 * content has no error, and sends exactly the content that was checked. */
(function () {
  "use strict";
  const C = window.Calanque;
  const D = window.CalanqueDashboards;
  const $ = (selector) => document.querySelector(selector);
  const confirm = $("#import-confirm");
  const summary = $("#import-summary");
  let checked = null; // {text, type} of the last content checked without error

  async function content() {
    const file = $("#import-file").files[0];
    const text = file ? await file.text() : $("#import-text").value;
    const json = file ? /\.json$/i.test(file.name) || file.type === "application/json" : /^\s*[[{]/.test(text);
    return { text, type: json ? "application/json" : "text/csv" };
  }

  function report(result) {
    summary.dataset.errors = String(result.errors.length);
    summary.dataset.valid = String(result.valid);
    const errorsSection = $("#import-errors-section");
    errorsSection.hidden = !result.errors.length;
    if (result.errors.length) {
      D.table($("#import-errors"), [
        { key: "line", label: C.t("Line"), num: true },
        { key: "field", label: C.t("Column"), render: (e) => e.field || "–" },
        { key: "message", label: C.t("Error") },
      ], result.errors.map((e) => Object.assign({ __key: `${e.line}:${e.field}` }, e)),
      C.t("{count} errors in {rows} rows", { count: result.errors.length, rows: new Set(result.errors.map((e) => e.line)).size }));
      document.querySelectorAll("#import-errors tbody tr").forEach((tr) => tr.classList.add("row-error"));
    }
    $("#import-rows-section").hidden = !result.devices.length;
    D.table($("#import-rows"), [
      { key: "line", label: C.t("Line"), num: true },
      { key: "id", label: C.t("Device") },
      { key: "name", label: C.t("Name") },
      { key: "entityId", label: C.t("Asset") },
      { key: "action", label: C.t("Action"), render: (d) => (d.action === "create" ? C.t("to create") : C.t("to update")) },
    ], result.devices.map((d) => Object.assign({ __key: d.id }, d)), null);
  }

  $("#import-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    confirm.disabled = true;
    checked = null;
    C.clearErrors();
    try {
      const body = await content();
      if (!body.text.trim()) {
        C.showError(C.t("Choose a file or paste its content first."));
        return;
      }
      const result = await C.api("/api/v1/devices/import?dryRun=true", { method: "POST", body: body.text, headers: { "Content-Type": body.type } });
      report(result);
      const rows = result.rows;
      if (result.errors.length) {
        summary.textContent = C.t("{rows} rows checked: {bad} rows have errors; fix them and check the file again. Nothing was imported.", {
          rows, bad: new Set(result.errors.map((e) => e.line)).size });
        summary.className = "error";
      } else {
        summary.textContent = C.t("{rows} rows checked, no error: {created} devices to create, {updated} to update.", {
          rows, created: result.created, updated: result.updated });
        summary.className = "preview-ok";
        checked = body;
        confirm.disabled = false;
      }
    } catch (err) {
      summary.textContent = "";
      C.showError(err);
    }
  });

  confirm.addEventListener("click", async () => {
    if (!checked) return;
    confirm.disabled = true;
    try {
      const result = await C.api("/api/v1/devices/import", { method: "POST", body: checked.text, headers: { "Content-Type": checked.type } });
      summary.replaceChildren(C.t("Imported: {created} devices created, {updated} updated.", { created: result.created, updated: result.updated }),
        " ", C.el("a", { href: "/devices" }, C.t("See the devices")));
      summary.className = "preview-ok";
      summary.dataset.imported = String(result.created + result.updated);
      checked = null;
    } catch (err) {
      C.showError(err);
      if (err.problem && err.problem.errors) report({ errors: err.problem.errors, devices: [], valid: 0 });
    }
  });

  for (const input of [$("#import-file"), $("#import-text")]) {
    input.addEventListener("input", () => { checked = null; confirm.disabled = true; });
  }
})();
