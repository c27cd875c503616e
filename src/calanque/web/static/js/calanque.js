/* Calanque web UI: what every page shares. Exposes window.Calanque:
 *   config          the page's configuration (lang, user, use cases, map settings, page data)
 *   t(msg, params)  the translation of an English message from the page's catalogue, {name} filled in
 *   api(path, opts) fetch JSON with the session cookie; adds X-CSRF-Token on writes and the user's
 *                   tenant; throws Calanque.ApiError (status, detail) on an error answer
 *   showError(msg)  show a message in the page's status region (read by screen readers)
 *   subscribe(onChanges, opts)  live changes from /api/v1/live (server-sent events); returns close()
 *   el(tag, attrs, ...children) build DOM nodes without innerHTML
 *   fmt.number / fmt.dateTime / fmt.date  locale formatting
 * No inline script anywhere: the pages' Content-Security-Policy only allows this origin's files.
 */
(function () {
  "use strict";
  const configNode = document.getElementById("calanque-config");
  const config = configNode ? JSON.parse(configNode.textContent) : { lang: "fr", messages: {}, page: {} };
  const locale = config.lang === "en" ? "en-GB" : "fr-FR";
  const timeZone = "Europe/Paris"; // the territory's time, whatever the browser's (a screen, a laptop abroad)

  function t(message, params) {
    let text = (config.messages && config.messages[message]) || message;
    if (params) {
      text = text.replace(/\{(\w+)\}/g, (all, name) => (name in params ? String(params[name]) : all));
    }
    return text;
  }

  function cookie(name) {
    for (const part of document.cookie.split(";")) {
      const [key, ...rest] = part.trim().split("=");
      if (key === name) return decodeURIComponent(rest.join("="));
    }
    return null;
  }

  class ApiError extends Error {
    constructor(status, detail, problem) {
      super(detail);
      this.status = status;
      this.detail = detail;
      this.problem = problem;
    }
  }

  function tenantHeader() {
    const user = config.user;
    return user && user.tenant && user.tenant !== "*" ? { "NGSILD-Tenant": user.tenant } : {};
  }

  async function api(path, opts) {
    const options = opts || {};
    const method = (options.method || "GET").toUpperCase();
    // anonymous: the public pages call the API without the session cookie, so they can only ever show
    // what is published, whoever looks at them
    const anonymous = Boolean(options.anonymous || config.public);
    const headers = Object.assign({ Accept: "application/json" }, anonymous ? {} : tenantHeader(), options.headers || {});
    let body = options.body;
    if (body !== undefined && typeof body !== "string" && !(body instanceof FormData)) {
      body = JSON.stringify(body);
      headers["Content-Type"] = headers["Content-Type"] || "application/json";
    }
    if (method !== "GET" && method !== "HEAD") {
      const csrf = cookie(config.csrfCookie || "calanque_csrf");
      if (csrf) headers["X-CSRF-Token"] = csrf;
    }
    let response;
    try {
      response = await fetch(path, {
        method, headers, body, credentials: anonymous ? "omit" : "same-origin", signal: options.signal,
        cache: options.cache || "default",
      });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, t("The server cannot be reached. Check the connection and try again."), null);
    }
    if (response.status === 401 && config.user && !anonymous && !options.noRedirect) {
      window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname + window.location.search));
    }
    const type = response.headers.get("content-type") || "";
    const payload = type.includes("json") ? await response.json().catch(() => null) : await response.text();
    if (!response.ok) {
      const detail = (payload && (payload.detail || payload.title)) || t("Error {status}", { status: response.status });
      throw new ApiError(response.status, detail, payload);
    }
    return options.raw ? { data: payload, response } : payload;
  }

  function el(tag, attrs) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (let i = 2; i < arguments.length; i++) {
      const child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) child.forEach((c) => c !== null && c !== undefined && node.append(c));
      else node.append(child);
    }
    return node;
  }

  function showError(message) {
    const region = document.getElementById("messages");
    if (!region) return;
    const text = message instanceof Error ? message.message : String(message);
    const close = el("button", { type: "button", class: "button-link", text: t("Dismiss") });
    const item = el("p", { class: "message error" }, text, " ", close);
    close.addEventListener("click", () => item.remove());
    region.append(item);
  }

  function clearErrors() {
    const region = document.getElementById("messages");
    if (region) region.replaceChildren();
  }

  /* Live changes: onChanges(list of {id, type, modifiedAt, ...state}) for each batch the server pushes.
   * opts.types / opts.ids limit to entity types (terms) / ids; opts.onReload() is called when more changed
   * than a stream carries (reload the page's data then). The browser's EventSource reconnects by itself and resumes after
   * the last event id, so nothing is missed across short disconnections. */
  function subscribe(onChanges, opts) {
    const params = new URLSearchParams();
    const options = opts || {};
    if (options.types) params.set("types", options.types.join(","));
    if (options.ids) params.set("ids", options.ids.join(","));
    const tenant = tenantHeader()["NGSILD-Tenant"];
    if (tenant) params.set("tenant", tenant);
    const source = new EventSource("/api/v1/live" + (params.toString() ? "?" + params : ""));
    source.addEventListener("changes", (event) => {
      try {
        onChanges(JSON.parse(event.data));
      } catch (err) {
        console.error("live update", err);
      }
    });
    source.addEventListener("reload", () => {
      if (options.onReload) options.onReload();
    });
    source.addEventListener("open", () => document.documentElement.setAttribute("data-live", "open"));
    source.addEventListener("error", () => document.documentElement.setAttribute("data-live", "retrying"));
    return () => source.close();
  }

  const numberFormats = {};
  const fmt = {
    number(value, digits) {
      if (value === null || value === undefined || Number.isNaN(value)) return "–";
      const key = String(digits === undefined ? "auto" : digits);
      if (!numberFormats[key]) {
        numberFormats[key] = new Intl.NumberFormat(locale, digits === undefined
          ? { maximumFractionDigits: 2 } : { minimumFractionDigits: digits, maximumFractionDigits: digits });
      }
      return numberFormats[key].format(value);
    },
    dateTime(value) {
      if (!value) return "–";
      return new Date(value).toLocaleString(locale, { dateStyle: "short", timeStyle: "short", timeZone });
    },
    date(value) {
      if (!value) return "–";
      return new Date(value).toLocaleDateString(locale, { dateStyle: "medium", timeZone });
    },
  };

  function entityUrl(id) {
    return "/entities/" + encodeURIComponent(id);
  }

  function setupHeader() {
    const toggle = document.querySelector(".nav-toggle");
    const nav = document.getElementById("main-nav");
    if (toggle && nav) {
      toggle.addEventListener("click", () => {
        const open = toggle.getAttribute("aria-expanded") !== "true";
        toggle.setAttribute("aria-expanded", String(open));
        nav.classList.toggle("open", open);
      });
    }
    const logout = document.getElementById("logout-form");
    if (logout) {
      logout.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          await api("/api/v1/auth/logout", { method: "POST", noRedirect: true });
        } catch (err) {
          /* the session may already be gone: go to the login page either way */
        }
        window.location.assign("/login");
      });
    }
  }

  window.Calanque = { config, t, api, ApiError, el, showError, clearErrors, subscribe, fmt, entityUrl, cookie };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setupHeader);
  else setupHeader();
})();
