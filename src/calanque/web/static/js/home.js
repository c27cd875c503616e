/* The department home: every asset on one canvas map coloured by its state, filters (use case, commune,
 * site, kept in the URL), the same assets as a keyboard-usable list, the assets needing attention today,
 * and live updates from /api/v1/live. Sets <html data-map-ready="true"> and the performance mark
 * "calanque-map-drawn" once every marker is drawn (bench/ui.py measures it). */
(function () {
  "use strict";
  const C = window.Calanque;
  const M = window.CalanqueMap;
  Object.assign(C.config.messages, C.config.page.messages || {}); // use cases' own words (map-state labels)
  const SEVERITY = { bad: 0, high: 1, silent: 2, unknown: 3, warn: 4, info: 5, ok: 6, off: 7 };
  const LIST_PAGE = 100;
  const ATTENTION_PAGE = 100;
  const byId = (id) => document.getElementById(id);
  const ui = {
    usecase: byId("filter-usecase"), commune: byId("filter-commune"), site: byId("filter-site"),
    status: byId("map-status"), legend: byId("map-legend"), note: byId("map-note"),
    list: byId("asset-list"), listCount: byId("asset-count"), listMore: byId("asset-more"),
    attention: byId("attention-list"), attentionCount: byId("attention-count"), attentionMore: byId("attention-more"),
  };
  const ucTitles = Object.fromEntries(C.config.usecases.map((u) => [u.name, u.title]));
  const view = CalanqueMap.create(byId("map"), { note: ui.note });
  const layer = L.featureGroup().addTo(view.map); // a feature group hears its markers' clicks
  let data = null;
  let index = new Map(); // id -> row
  let markers = [];
  let attention = new Set();
  let shown = []; // rows passing the filters, in storage order
  let listShown = 0;
  let attentionShown = 0;
  let liveCount = 0;

  function formatParams(params) {
    const out = {};
    for (const [key, value] of Object.entries(params || {})) {
      if (typeof value === "number") out[key] = C.fmt.number(value);
      else if (typeof value === "string" && /^\d{4}-\d\d-\d\dT/.test(value)) out[key] = C.fmt.dateTime(value);
      else out[key] = value;
    }
    return out;
  }

  const a = () => data.assets;
  const level = (i) => data.levels[a().level[i]];
  const usecase = (i) => data.usecases[a().usecase[i]];
  const name = (i) => a().name[i] || a().id[i];
  const label = (i) => C.t(data.labels[a().label[i]], formatParams(a().params[i]));
  const commune = (i) => (a().commune[i] >= 0 ? data.communes[a().commune[i]] : null);

  function stateBadge(i) {
    const badge = C.el("span", { class: "state" }, `${M.levelName(level(i))} · ${label(i)}`);
    badge.style.setProperty("--dot", M.COLOURS[level(i)]);
    return badge;
  }

  function passes(i) {
    if (ui.usecase.value && usecase(i) !== ui.usecase.value) return false;
    if (ui.commune.value && (commune(i) || {}).code !== ui.commune.value) return false;
    if (ui.site.value && data.sites[a().site[i]] !== ui.site.value) return false;
    return true;
  }

  function popup(i) {
    const place = commune(i);
    return C.el("div", { class: "asset-popup" },
      C.el("span", { class: "popup-title", text: name(i) }),
      C.el("span", { text: `${C.t(data.types[a().type[i]])} · ${ucTitles[usecase(i)] || usecase(i)}` }), C.el("br"),
      stateBadge(i), C.el("br"),
      place ? C.el("span", { text: place.name }) : null, place ? C.el("br") : null,
      C.el("a", { href: C.entityUrl(a().id[i]), class: "popup-link", text: C.t("Open the asset page") }));
  }

  function openPopup(i, focus) {
    const pop = L.popup({ maxWidth: 320 }).setLatLng([a().lat[i], a().lon[i]]).setContent(popup(i)).openOn(view.map);
    if (focus) {
      const link = pop.getElement() && pop.getElement().querySelector(".popup-link");
      if (link) link.focus();
    }
  }

  function buildMarkers() {
    markers = a().id.map((id, i) => M.marker(a().lat[i], a().lon[i], level(i), view.renderer, { idx: i }));
  }

  function drawLegend() {
    const counts = {};
    for (const i of shown) counts[level(i)] = (counts[level(i)] || 0) + 1;
    ui.legend.replaceChildren(...data.levels.filter((l) => counts[l]).map((l) => {
      const item = C.el("li", { class: "state" }, `${M.levelName(l)} (${C.fmt.number(counts[l])})`);
      item.style.setProperty("--dot", M.COLOURS[l]);
      return item;
    }));
  }

  function listItem(i) {
    const locate = C.el("button", { type: "button", class: "button-link", text: C.t("Locate") });
    locate.setAttribute("aria-label", C.t("Locate {name} on the map", { name: name(i) }));
    locate.addEventListener("click", () => {
      view.map.setView([a().lat[i], a().lon[i]], Math.max(view.map.getZoom(), 16));
      byId("map").scrollIntoView({ block: "nearest" });
      openPopup(i, true);
    });
    return C.el("li", { dataset: { id: a().id[i] } },
      C.el("a", { href: C.entityUrl(a().id[i]), text: name(i) }), stateBadge(i), locate);
  }

  function moreList(reset) {
    if (reset) { ui.list.replaceChildren(); listShown = 0; }
    const next = shown.slice(listShown, listShown + LIST_PAGE);
    ui.list.append(...next.map(listItem));
    listShown += next.length;
    ui.listMore.hidden = listShown >= shown.length;
    ui.listCount.textContent = C.fmt.number(shown.length);
  }

  function attentionOrder() {
    const rows = Array.from(attention).filter(passes);
    rows.sort((x, y) => (SEVERITY[level(x)] - SEVERITY[level(y)]) || (name(x) < name(y) ? -1 : name(x) > name(y) ? 1 : 0));
    return rows;
  }

  function attentionItem(i) {
    const place = commune(i);
    return C.el("li", { dataset: { id: a().id[i], level: level(i) } },
      C.el("a", { href: C.entityUrl(a().id[i]), text: name(i) }), " ", stateBadge(i),
      C.el("span", { class: "why", text: [ucTitles[usecase(i)] || usecase(i), place && place.name].filter(Boolean).join(" · ") }));
  }

  function drawAttention(reset) {
    const rows = attentionOrder();
    if (reset) { ui.attention.replaceChildren(); attentionShown = 0; }
    const next = rows.slice(attentionShown, attentionShown + ATTENTION_PAGE);
    ui.attention.append(...next.map(attentionItem));
    attentionShown += next.length;
    ui.attentionMore.hidden = attentionShown >= rows.length;
    ui.attentionCount.textContent = C.fmt.number(rows.length);
    if (!rows.length) ui.attention.append(C.el("li", { class: "muted", text: C.t("Nothing needs attention.") }));
  }

  function applyFilters(first) {
    shown = [];
    for (let i = 0; i < a().id.length; i++) if (passes(i)) shown.push(i);
    layer.clearLayers();
    for (const i of shown) layer.addLayer(markers[i]);
    drawLegend();
    moreList(true);
    drawAttention(true);
    ui.status.textContent = C.t("{shown} of {total} assets shown", {
      shown: C.fmt.number(shown.length), total: C.fmt.number(a().id.length) });
    if (!first) {
      const params = new URLSearchParams(window.location.search);
      for (const key of ["usecase", "commune", "site"]) {
        if (ui[key].value) params.set(key, ui[key].value); else params.delete(key);
      }
      window.history.replaceState(null, "", window.location.pathname + (params.toString() ? "?" + params : ""));
    }
    requestAnimationFrame(() => requestAnimationFrame(() => {
      performance.mark("calanque-map-drawn");
      document.documentElement.dataset.mapReady = "true";
      document.documentElement.dataset.mapShown = String(shown.length);
    }));
  }

  function fillSelect(select, options, wanted) {
    for (const [value, text] of options) select.append(C.el("option", { value, text }));
    if (wanted && options.some(([value]) => value === wanted)) select.value = wanted;
  }

  function load(answer) {
    data = answer;
    index = new Map(a().id.map((id, i) => [id, i]));
    attention = new Set(data.attention);
    buildMarkers();
  }

  /* live changes: recolour, relabel, add new assets; lists redrawn at most twice a second */
  let redraw = null;
  function onChanges(changes) {
    for (const change of changes) {
      const row = change.asset;
      if (!row) continue;
      let i = index.get(row.id);
      if (i === undefined) {
        i = a().id.length;
        const add = (column, list, value) => {
          let k = data[list].indexOf(value);
          if (k < 0 && value !== null) { data[list].push(value); k = data[list].length - 1; }
          a()[column].push(k);
        };
        a().id.push(row.id); a().name.push(row.name); a().lon.push(row.lon); a().lat.push(row.lat); a().params.push(null);
        add("type", "types", row.type); add("usecase", "usecases", row.usecase); add("site", "sites", row.site);
        let c = data.communes.findIndex((x) => x.code === row.commune);
        if (c < 0 && row.commune) { data.communes.push({ code: row.commune, name: row.communeName || row.commune }); c = data.communes.length - 1; }
        a().commune.push(c);
        a().level.push(0); a().label.push(0);
        index.set(row.id, i);
        markers.push(M.marker(row.lat, row.lon, row.level, view.renderer, { idx: i }));
      }
      a().level[i] = data.levels.indexOf(row.level);
      let l = data.labels.indexOf(row.label);
      if (l < 0) { data.labels.push(row.label); l = data.labels.length - 1; }
      a().label[i] = l;
      a().params[i] = row.params;
      a().lon[i] = row.lon; a().lat[i] = row.lat;
      markers[i].setLatLng([row.lat, row.lon]);
      markers[i].setStyle({ fillColor: M.COLOURS[row.level], dashArray: row.level === "silent" ? "2 2" : null });
      if (row.attention) attention.add(i); else attention.delete(i);
      liveCount += 1;
    }
    document.documentElement.dataset.liveChanges = String(liveCount);
    if (!redraw) {
      redraw = setTimeout(() => { redraw = null; applyFilters(true); }, 500);
    }
  }

  async function start() {
    const wanted = new URLSearchParams(window.location.search);
    try {
      load(await C.api("/api/v1/map"));
    } catch (err) {
      ui.status.textContent = "";
      C.showError(C.t("The assets cannot be loaded: {reason}", { reason: err.message }));
      return;
    }
    if (wanted.get("usecase")) ui.usecase.value = wanted.get("usecase");
    fillSelect(ui.commune, data.communes.map((c) => [c.code, c.name]), wanted.get("commune"));
    fillSelect(ui.site, data.sites.map((s) => [s, s]), wanted.get("site"));
    layer.on("click", (event) => openPopup(event.layer.options.idx, false));
    applyFilters(true);
    for (const select of [ui.usecase, ui.commune, ui.site]) select.addEventListener("change", () => applyFilters(false));
    ui.listMore.addEventListener("click", () => moreList(false));
    ui.attentionMore.addEventListener("click", () => drawAttention(false));
    C.subscribe(onChanges, {
      onReload: async () => { load(await C.api("/api/v1/map")); applyFilters(true); },
    });
  }

  start();
})();
