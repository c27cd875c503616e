/* What the use cases' dashboards share: window.CalanqueDashboards (D below).
 *   D.page                 the dashboard's configuration (usecase, indicators, thresholds, canCommand)
 *   D.param(name, def)     a query-string parameter of the page (e.g. ?date=2026-11-25), else def
 *   D.setParam(name, v)    remember a choice in the address bar (shareable, survives a reload)
 *   D.today(offsetDays)    the local date (Europe/Paris) as YYYY-MM-DD
 *   D.entities(type, opts) every entity of a type (NGSI-LD, keyValues), page after page
 *   D.history(id, attrs, from, to)  {attr: [[time, value], ...]} from the NGSI-LD temporal API
 *   D.figure(el, value, text)       show a number in a card; data-value keeps the raw value
 *   D.table(el, columns, rows, caption)  an accessible table; column {key, label, num, render(row)}
 *   D.plot(el, traces, layout)      a Plotly chart (SVG traces only: the CSP forbids eval)
 *   D.state(level, text)   a coloured dot with its text (never the colour alone)
 *   D.link(id, text)       a link to an entity's page
 *   D.map(el)              a Leaflet map (CalanqueMap: offline fallback, commune outlines)
 *   D.load(el, promise)    mark a section busy, then show the error, if any, in it
 *   D.shortTime(t), D.day(d)  "14:00", "25 nov." in the page's language and Paris time
 *   D.local(t)             an instant as Paris wall-clock time for Plotly's date axes (D.TIME_AXIS)
 *   D.midnight(day)        00:00 Paris time of a YYYY-MM-DD day, as ISO 8601 with its offset
 * Every text goes through Calanque.t; the dashboard's own catalogue is merged into it here.
 */
(function () {
  "use strict";
  const C = window.Calanque;
  const page = C.config.page || {};
  Object.assign(C.config.messages, page.messages || {});
  const ZONE = "Europe/Paris";
  const PAGE_SIZE = 1000;

  function param(name, fallback) {
    const value = new URLSearchParams(window.location.search).get(name);
    return value === null || value === "" ? fallback : value;
  }

  function setParam(name, value) {
    const url = new URL(window.location.href);
    if (value === null || value === undefined || value === "") url.searchParams.delete(name);
    else url.searchParams.set(name, value);
    window.history.replaceState(null, "", url);
  }

  function today(offsetDays) {
    const moment = new Date(Date.now() + (offsetDays || 0) * 86400000);
    return new Intl.DateTimeFormat("en-CA", { timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit" })
      .format(moment);
  }

  async function entities(type, opts) {
    const options = opts || {};
    const found = [];
    for (let offset = 0; ; offset += PAGE_SIZE) {
      const query = new URLSearchParams({ type, limit: String(PAGE_SIZE), offset: String(offset), options: "keyValues" });
      if (options.attrs) query.set("attrs", options.attrs.join(","));
      const page = await C.api("/ngsi-ld/v1/entities?" + query);
      found.push(...page);
      if (page.length < PAGE_SIZE) return found;
    }
  }

  async function history(id, attrs, from, to) {
    const query = new URLSearchParams({
      attrs: attrs.join(","), timerel: "between", timeAt: from, endTimeAt: to, options: "temporalValues",
    });
    const body = await C.api("/ngsi-ld/v1/temporal/entities/" + encodeURIComponent(id) + "?" + query);
    const out = {};
    for (const attr of attrs) {
      const member = body[attr];
      const values = member && member.values ? member.values : [];
      out[attr] = values.map(([value, time]) => [time, value]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    }
    return out;
  }

  function figure(el, value, text) {
    el.dataset.value = value === null || value === undefined ? "" : String(value);
    el.textContent = text === undefined ? C.fmt.number(value) : text;
  }

  function percent(ratio, digits) {
    return ratio === null || ratio === undefined ? "–" : C.fmt.number(ratio * 100, digits === undefined ? 0 : digits) + " %";
  }

  function state(level, text) {
    return C.el("span", { class: "state level-" + level, dataset: { level } }, text);
  }

  function link(id, text) {
    return C.el("a", { href: C.entityUrl(id) }, text || id);
  }

  function table(el, columns, rows, caption) {
    const head = C.el("tr", null, columns.map((c) => C.el("th", { scope: "col", class: c.num ? "num" : null }, c.label)));
    const body = rows.map((row) => C.el("tr", { dataset: row.__key ? { key: row.__key } : null }, columns.map((c) => {
      const raw = c.value ? c.value(row) : row[c.key];
      const shown = c.render ? c.render(row) : c.num ? C.fmt.number(raw, c.digits) : raw === null || raw === undefined ? "–" : raw;
      const cell = C.el("td", { class: c.num ? "num" : null, dataset: { col: c.key } }, shown);
      if (raw !== null && raw !== undefined && typeof raw !== "object") cell.dataset.value = String(raw);
      return cell;
    })));
    const parts = [];
    if (caption) parts.push(C.el("caption", null, caption));
    parts.push(C.el("thead", null, head), C.el("tbody", null, body));
    if (!rows.length) {
      parts.push(C.el("tfoot", null, C.el("tr", null, C.el("td", { colspan: String(columns.length) }, C.t("Nothing to show.")))));
    }
    el.replaceChildren(C.el("div", { class: "table-wrap" }, C.el("table", null, parts)));
  }

  const FONT = { family: "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif", size: 13, color: "#1b1f24" };

  function plot(el, traces, layout) {
    const merged = Object.assign({
      font: FONT, margin: { l: 56, r: 16, t: 36, b: 56 }, paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff",
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" }, separators: C.config.lang === "fr" ? ", " : ".,",
    }, layout || {});
    el.dataset.traces = String(traces.length);
    // a figure, not an img: Plotly puts focusable controls (mode bar, legend) inside the chart
    el.setAttribute("role", el.getAttribute("role") || "figure");
    return window.Plotly.react(el, traces, merged, { displaylogo: false, responsive: true })
      .then(() => { el.dataset.ready = "true"; });
  }

  function map(el) {
    return window.CalanqueMap.create(el, { note: el.parentElement.querySelector(".map-status") });
  }

  async function load(el, promise) {
    el.setAttribute("aria-busy", "true");
    try {
      return await promise;
    } catch (err) {
      el.append(C.el("p", { class: "message error", role: "alert" }, err.message || String(err)));
      throw err;
    } finally {
      el.removeAttribute("aria-busy");
    }
  }

  function shortTime(value) {
    if (!value) return "–";
    return new Date(value).toLocaleTimeString(C.config.lang === "en" ? "en-GB" : "fr-FR", { hour: "2-digit", minute: "2-digit", timeZone: ZONE });
  }

  function day(value) {
    return new Date(value.length === 10 ? value + "T12:00:00" : value).toLocaleDateString(
      C.config.lang === "en" ? "en-GB" : "fr-FR", { day: "numeric", month: "short", timeZone: ZONE });
  }

  const LOCAL = new Intl.DateTimeFormat("sv-SE", {
    timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });

  function local(iso) {
    return LOCAL.format(new Date(iso));
  }

  function midnight(day) {
    const noon = new Date(day + "T12:00:00Z");
    const offset = new Intl.DateTimeFormat("en-US", { timeZone: ZONE, timeZoneName: "longOffset" })
      .formatToParts(noon).find((p) => p.type === "timeZoneName").value.replace("GMT", "") || "+00:00";
    return `${day}T00:00:00${offset}`;
  }

  const TIME_AXIS = { type: "date", tickformat: "%d/%m %H:%M", hoverformat: "%d/%m/%Y %H:%M" };

  function name(entity) {
    return entity.name || entity.id.split(":").pop();
  }

  window.CalanqueDashboards = {
    page, param, setParam, today, entities, history, figure, percent, state, link, table, plot, map, load,
    shortTime, day, local, midnight, name, ZONE, TIME_AXIS,
  };
})();
