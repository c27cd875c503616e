/* Calanque maps: window.CalanqueMap.
 *   create(element, opts) → {map, renderer, ready}: a Leaflet map drawing on one canvas (fluid with tens of
 *       thousands of markers), with the configured tile layer and the commune outlines of /api/v1/territory.
 *       When no tile loads (offline, or no tile URL configured) the assets stay on a plain background with
 *       the outlines. opts.note: an element where the map tells the user about approximate outlines or
 *       missing tiles. `ready` resolves when the outlines are drawn, with their bounds.
 *   COLOURS[level], levelName(level): the colour and translated name of a map level (ok, info, warn, …).
 *   marker(lat, lon, level, renderer, extra): a circle marker of a level's colour.
 */
(function () {
  "use strict";
  const C = window.Calanque;
  const COLOURS = {
    ok: "#2e8540", info: "#1f6fb2", warn: "#e0a100", high: "#e66100", bad: "#c62828",
    off: "#5f6b7a", silent: "#c3c9d1", unknown: "#ffffff",
  };
  const NAMES = {
    ok: "Normal", info: "Active or on", warn: "Warning", high: "Alert", bad: "Critical or fault",
    off: "Off", silent: "Silent", unknown: "Unknown",
  };
  // outline and marker borders: dark enough (3:1) against the plain background and the tiles
  const BORDER = "#1b1f24";

  function levelName(level) {
    return C.t(NAMES[level] || NAMES.unknown);
  }

  function marker(lat, lon, level, renderer, extra) {
    return L.circleMarker([lat, lon], Object.assign({
      renderer, radius: 6, color: BORDER, weight: 1, opacity: 0.9,
      fillColor: COLOURS[level] || COLOURS.unknown, fillOpacity: 0.95,
      dashArray: level === "silent" ? "2 2" : null,
    }, extra || {}));
  }

  function say(note, text) {
    if (!note) return;
    const lines = new Set((note.dataset.lines || "").split("\n").filter(Boolean));
    lines.add(text);
    note.dataset.lines = Array.from(lines).join("\n");
    note.textContent = Array.from(lines).join(" ");
    note.hidden = false;
  }

  function create(element, opts) {
    const options = opts || {};
    const renderer = L.canvas({ padding: 0.3 });
    const map = L.map(element, { preferCanvas: true, renderer, zoomControl: true, keyboard: true, zoomSnap: 0.25 });
    map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    const tileUrl = C.config.map && C.config.map.tileUrl;
    if (tileUrl) {
      let loaded = 0;
      let failed = 0;
      const tiles = L.tileLayer(tileUrl, { attribution: C.config.map.attribution || "", maxZoom: 19, crossOrigin: false });
      tiles.on("tileload", () => { loaded += 1; });
      tiles.on("tileerror", () => {
        failed += 1;
        if (loaded === 0 && failed === 1) {
          say(options.note, C.t("The map background cannot be loaded (no connection to the tile server): the assets are shown on the commune outlines."));
          element.dataset.tiles = "failed";
        }
      });
      tiles.addTo(map);
    } else {
      element.dataset.tiles = "none";
    }
    map.setView([43.45, 5.3], 10);
    const outlinePane = map.createPane("outlines");
    outlinePane.style.zIndex = 350; // above the tiles, below the markers
    const ready = fetch("/api/v1/territory", { credentials: "omit", headers: { Accept: "application/json" } })
      .then((response) => {
        if (!response.ok) throw new Error(C.t("Error {status}", { status: response.status }));
        return response.json();
      })
      .then((territory) => {
        const layer = L.geoJSON(territory, {
          pane: "outlines", interactive: false,
          style: { color: "#3d4a5c", weight: 1.2, opacity: 0.8, fillColor: "#ffffff", fillOpacity: 0.25 },
        }).addTo(map);
        if (territory.approximate) {
          say(options.note, C.t("Commune outlines are approximate (demonstration outlines): set CALANQUE_TERRITORY_GEOJSON to the official ones."));
        }
        element.dataset.outlines = String(territory.features.length);
        const bounds = layer.getBounds();
        if (bounds.isValid()) map.fitBounds(bounds);
        return bounds;
      })
      .catch((err) => {
        C.showError(C.t("The commune outlines cannot be loaded: {reason}", { reason: err.message }));
        return null;
      });
    instances.push(map);
    return { map, renderer, ready };
  }

  const instances = []; // the page's maps, for the browser console and the browser tests
  window.CalanqueMap = { create, marker, COLOURS, levelName, instances };
})();
