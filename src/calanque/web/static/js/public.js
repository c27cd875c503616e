/* The public portal. Every call is anonymous (no cookie: Calanque.api sends none on public pages), so the
 * page shows what is published and nothing else, whoever opens it. What is published comes from
 * GET /api/v1/usecases (each use case's published types and attributes, and its public paths). */
(function () {
  "use strict";
  const C = window.Calanque;
  const M = window.CalanqueMap;
  const byId = (id) => document.getElementById(id);
  const status = byId("public-status");
  const view = M.create(byId("public-map"), { note: byId("map-note") });
  const layer = L.layerGroup().addTo(view.map);
  const MAX_PAGES = 5;
  const LIMIT = 1000;
  const SKIP = new Set(["id", "type", "location", "name", "address", "municipalityCode", "measurementPeriod",
    "vehicleType", "@context"]);

  function publications(uc) {
    // [{entityType, attributes}] (strings are entity types whose attributes are not listed)
    return (uc.publishes || []).map((p) => (typeof p === "string" ? { entityType: p, attributes: null } : p))
      .filter((p) => (uc.entityTypes || []).includes(p.entityType));
  }

  async function entities(type, attributes) {
    const found = [];
    for (let pageNo = 0; pageNo < MAX_PAGES; pageNo++) {
      const params = new URLSearchParams({ type, limit: String(LIMIT), offset: String(pageNo * LIMIT), options: "keyValues" });
      if (attributes) params.set("attrs", attributes.join(","));
      const batch = await C.api("/ngsi-ld/v1/entities?" + params, { anonymous: true });
      found.push(...batch);
      if (batch.length < LIMIT) break;
    }
    return found;
  }

  function place(entity) {
    const address = entity.address;
    return (address && typeof address === "object" && address.addressLocality) || "";
  }

  function numericColumns(list, attributes) {
    const names = new Set();
    for (const entity of list) {
      for (const [key, value] of Object.entries(entity)) {
        if (!SKIP.has(key) && typeof value === "number" && (!attributes || attributes.includes(key))) names.add(key);
      }
    }
    return Array.from(names).sort();
  }

  async function counterFigures(uc, list) {
    const paths = uc.publicPaths || [];
    if (!paths.some((p) => p.endsWith("/{counterId}/display"))) return null;
    const figures = new Map();
    await Promise.all(list.slice(0, 200).map(async (entity) => {
      try {
        figures.set(entity.id, await C.api(`/api/v1/${uc.name}/${encodeURIComponent(entity.id)}/display`, { anonymous: true }));
      } catch (err) {
        figures.set(entity.id, null);
      }
    }));
    return figures;
  }

  function table(caption, list, columns, figures, uc) {
    const head = [C.t("Name"), C.t("Commune"), ...columns.map((c) => C.t(c))];
    if (figures) head.push(C.t("Passages today"), C.t("Passages this year"), C.t("Street display"));
    const rows = list.map((entity) => {
      const cells = [C.el("th", { scope: "row", text: entity.name || entity.id }), C.el("td", { text: place(entity) })];
      for (const c of columns) cells.push(C.el("td", { class: "num", text: C.fmt.number(entity[c]) }));
      if (figures) {
        const f = figures.get(entity.id);
        cells.push(C.el("td", { class: "num", dataset: { figure: "today" }, text: f ? C.fmt.number(f.today, 0) : "–" }));
        cells.push(C.el("td", { class: "num", dataset: { figure: "year" }, text: f ? C.fmt.number(f.year, 0) : "–" }));
        cells.push(C.el("td", {}, C.el("a", {
          href: `/public/counters/${encodeURIComponent(entity.id)}/totem`, text: C.t("Totem"),
          "aria-label": C.t("Street display of {name}", { name: entity.name || entity.id }),
        })));
      }
      return C.el("tr", { dataset: { id: entity.id } }, cells);
    });
    return C.el("div", { class: "table-wrap" }, C.el("table", {},
      C.el("caption", { text: caption }),
      C.el("thead", {}, C.el("tr", {}, head.map((h, k) => C.el("th", { scope: "col", class: k > 1 ? "num" : null, text: h })))),
      C.el("tbody", {}, rows)));
  }

  function summary(uc, pub, list, figures) {
    const cards = [C.el("div", { class: "card", dataset: { type: pub.entityType } },
      C.el("div", { class: "figure", text: C.fmt.number(list.length) }),
      C.el("div", { class: "figure-label", text: C.t("published sensors ({type})", { type: C.t(pub.entityType) }) }))];
    if (figures) {
      let today = 0;
      let year = 0;
      for (const f of figures.values()) if (f) { today += f.today; year += f.year; }
      cards.push(C.el("div", { class: "card", dataset: { total: "today" } },
        C.el("div", { class: "figure", text: C.fmt.number(today, 0) }),
        C.el("div", { class: "figure-label", text: C.t("passages today, all counters") })));
      cards.push(C.el("div", { class: "card", dataset: { total: "year" } },
        C.el("div", { class: "figure", text: C.fmt.number(year, 0) }),
        C.el("div", { class: "figure-label", text: C.t("passages this year, all counters") })));
    }
    return C.el("div", { class: "cards" }, cards);
  }

  function openDataLinks(uc) {
    const items = [];
    for (const pub of publications(uc)) {
      const params = new URLSearchParams({ type: pub.entityType, limit: String(LIMIT) });
      if (pub.attributes) params.set("attrs", pub.attributes.join(","));
      items.push(C.el("li", {}, C.el("a", { href: "/ngsi-ld/v1/entities?" + params,
        text: C.t("{type}: current values (NGSI-LD API, JSON)", { type: C.t(pub.entityType) }) })));
    }
    for (const path of uc.publicPaths || []) {
      if (!path.includes("{") && path.endsWith(".csv")) {
        items.push(C.el("li", {}, C.el("a", { href: path, download: "",
          text: C.t("{title}: {file} (CSV, national schema)", { title: uc.title, file: path.split("/").pop() }) })));
      }
    }
    return items;
  }

  async function start() {
    let usecases;
    try {
      usecases = await C.api("/api/v1/usecases", { anonymous: true });
    } catch (err) {
      status.textContent = "";
      C.showError(C.t("The published data cannot be loaded: {reason}", { reason: err.message }));
      return;
    }
    const titles = Object.fromEntries(C.config.usecases.map((u) => [u.name, u.title]));
    const box = byId("public-indicators");
    const links = byId("open-data");
    let published = 0;
    for (const uc of usecases) {
      const pubs = publications(uc);
      if (!pubs.length) continue;
      const section = C.el("section", { class: "usecase", dataset: { usecase: uc.name } },
        C.el("h3", { text: titles[uc.name] || uc.title }));
      box.append(section);
      links.append(...openDataLinks(Object.assign({}, uc, { title: titles[uc.name] || uc.title })));
      for (const pub of pubs) {
        let list;
        try {
          list = await entities(pub.entityType, pub.attributes);
        } catch (err) {
          section.append(C.el("p", { class: "muted", text: err.status === 401 || err.status === 403
            ? C.t("{type}: not published.", { type: C.t(pub.entityType) })
            : C.t("{type} cannot be loaded: {reason}", { type: C.t(pub.entityType), reason: err.message }) }));
          continue;
        }
        published += list.length;
        const figures = await counterFigures(uc, list);
        section.append(summary(uc, pub, list, figures));
        if (list.length) section.append(table(C.t(pub.entityType), list, numericColumns(list, pub.attributes), figures, uc));
        for (const entity of list) {
          const geometry = entity.location;
          if (!geometry || geometry.type !== "Point") continue;
          const [lon, lat] = geometry.coordinates;
          const m = M.marker(lat, lon, "info", view.renderer);
          m.bindPopup(() => C.el("div", {},
            C.el("span", { class: "popup-title", text: entity.name || entity.id }),
            C.el("span", { text: `${C.t(pub.entityType)} · ${place(entity)}` })));
          layer.addLayer(m);
        }
      }
    }
    if (!box.children.length) box.append(C.el("p", { text: C.t("Nothing is published yet.") }));
    status.textContent = C.t("{count} published sensors", { count: C.fmt.number(published) });
    document.documentElement.dataset.publicReady = "true";
  }

  start();
})();
