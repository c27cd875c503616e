/* A counter's street totem: today's and this year's passages from the public display endpoint
 * (/api/v1/mobility/{id}/display, anonymous), refreshed every minute; the last figures stay on screen
 * when the network drops, with the time they date from. */
(function () {
  "use strict";
  const C = window.Calanque;
  const page = C.config.page;
  const url = "/api/v1/mobility/" + encodeURIComponent(page.counterId) + "/display";
  const byId = (id) => document.getElementById(id);
  let shown = false;

  async function refresh() {
    try {
      // no-cache: the display endpoint allows caching (for proxies); the totem wants the latest counts
      const display = await C.api(url, { anonymous: true, cache: "no-cache" });
      if (display.name) byId("totem-name").textContent = display.name;
      byId("totem-today").textContent = C.fmt.number(display.today, 0);
      byId("totem-year").textContent = C.fmt.number(display.year, 0);
      byId("totem-updated").textContent = display.lastUpdate
        ? C.t("Last count {when}", { when: C.fmt.dateTime(display.lastUpdate) }) : C.t("No count yet");
      document.documentElement.dataset.totemRefreshed = new Date().toISOString();
      shown = true;
    } catch (err) {
      if (!shown) {
        byId("totem-updated").textContent = err.status === 404
          ? C.t("This counter does not exist.")
          : err.status === 401 || err.status === 403
            ? C.t("This counter's counts are not published.")
            : C.t("The counts cannot be loaded: {reason}", { reason: err.message });
      }
    }
  }

  refresh();
  setInterval(refresh, Math.max(10, page.refreshSeconds || 60) * 1000);
})();
