// The /v1 API client used by all pages: API key, timeouts, idempotency keys, problem details.

import { t, has } from "./i18n.js";

const KEY_STORE = "idmatch.key.";
export const SLOW_MS = 4000;        // after this, tell the user the network is slow
export const TIMEOUT_MS = 45000;    // after this, give up and offer a retry (same idempotency key)

/** An error the pages can explain: ``kind`` picks the message, ``code`` is the server's stable code. */
export class ApiFailure extends Error {
  constructor(kind, { status = 0, code = "", detail = "", body = null, retryAfter = null } = {}) {
    super(detail || kind);
    this.retryAfter = retryAfter;   // seconds, from a Retry-After header (503, 429), or null
    this.kind = kind;          // offline | timeout | server | unauthorized | forbidden | rate_limited | client
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.body = body;
  }

  /** Not the applicant's fault and worth resending as it is: no answer, a timeout, a 5xx, a rate limit. */
  get transient() { return ["offline", "timeout", "server", "rate_limited"].includes(this.kind); }

  /** A plain-words message in the current language. */
  message_() {
    if (this.code && has(`err.${this.code}`) && this.kind !== "offline") return t(`err.${this.code}`, { detail: this.detail });
    if (this.kind === "offline") return t("err.offline");
    if (this.kind === "timeout") return t("err.timeout");
    if (this.kind === "server") return t("err.server", { code: this.code || this.status });
    if (this.kind === "unauthorized") return t("err.unauthorized");
    if (this.kind === "forbidden") return t("err.forbidden");
    if (this.kind === "rate_limited") return t("err.rate_limited");
    if (this.code && has(`err.${this.code}`)) return t(`err.${this.code}`, { detail: this.detail });
    if (this.code && has(`q.${this.code}`)) return t(`q.${this.code}`);
    return t("err.generic", { detail: this.detail || this.code || this.status });
  }
}

export function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export class Api {
  constructor(role) {
    this.role = role;
    this.key = sessionStorage.getItem(KEY_STORE + role) || "";
    this.onSlow = () => {};
    this.skewMs = 0;            // server clock minus this machine's clock (from the Date header), for deadlines
  }

  /** The server's time now, in ms since the epoch (this machine's clock corrected by the last Date header). */
  serverNow() { return Date.now() + this.skewMs; }

  setKey(key) {
    this.key = key;
    if (key) sessionStorage.setItem(KEY_STORE + this.role, key);
    else sessionStorage.removeItem(KEY_STORE + this.role);
  }

  /**
   * One request. ``body``: a plain object (sent as JSON) or FormData. ``idem``: Idempotency-Key.
   * Resolves with the parsed JSON; rejects with an ApiFailure.
   */
  async request(method, path, { body = null, idem = null, timeoutMs = TIMEOUT_MS, signal = null, slowMs = SLOW_MS } = {}) {
    const headers = { Accept: "application/json" };
    if (this.key) headers.Authorization = `Bearer ${this.key}`;
    if (idem) headers["Idempotency-Key"] = idem;
    let payload = null;
    if (body instanceof FormData) payload = body;
    else if (body !== null) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const ctrl = new AbortController();
    if (signal) signal.addEventListener("abort", () => ctrl.abort(signal.reason));
    let timedOut = false;
    const slow = setTimeout(() => this.onSlow(true), slowMs);
    const timer = setTimeout(() => { timedOut = true; ctrl.abort(); }, timeoutMs);
    let resp;
    try {
      resp = await fetch(path, { method, headers, body: payload, signal: ctrl.signal, cache: "no-store" });
    } catch (e) {
      if (timedOut) throw new ApiFailure("timeout");
      if (e && e.name === "AbortError") throw e;   // cancelled by the page itself
      throw new ApiFailure("offline", { detail: String(e) });
    } finally {
      clearTimeout(slow);
      clearTimeout(timer);
      this.onSlow(false);
    }
    const date = Date.parse(resp.headers.get("Date") || "");
    if (Number.isFinite(date)) this.skewMs = date + 500 - Date.now();   // Date has 1 s resolution: its middle
    let data = null;
    const text = await resp.text();
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (resp.ok) return data;
    const code = (data && data.code) || "";
    const detail = (data && (data.detail || data.title)) || resp.statusText;
    let kind = "client";
    if (resp.status === 401) kind = "unauthorized";
    else if (resp.status === 403) kind = "forbidden";
    else if (resp.status === 429) kind = "rate_limited";
    else if (resp.status >= 500) kind = "server";
    const ra = Number(resp.headers.get("Retry-After"));
    throw new ApiFailure(kind, { status: resp.status, code, detail, body: data,
      retryAfter: Number.isFinite(ra) && ra >= 0 && resp.headers.get("Retry-After") !== null ? ra : null });
  }

  get(path, opts) { return this.request("GET", path, opts); }
  post(path, body, opts = {}) { return this.request("POST", path, { ...opts, body }); }
  put(path, body, opts = {}) { return this.request("PUT", path, { ...opts, body }); }

  /**
   * Check a key for this page's role without side effects: a read the role may do.
   * Resolves true, or rejects with ApiFailure (unauthorized / forbidden / offline ...).
   */
  async checkKey() {
    const probe = {
      clerk: "/v1/sessions/00000000-0000-0000-0000-000000000000",   // clerk may read sessions: 404 = key fine
      reviewer: "/v1/review?limit=1",
      auditor: "/v1/audit/events?limit=1",
    }[this.role];
    try {
      await this.get(probe);
    } catch (e) {
      if (e instanceof ApiFailure && e.status === 404) return true;
      throw e;
    }
    return true;
  }
}

// ---- small DOM helpers shared by the pages ---------------------------------------------------

export const $ = (sel, root = document) => root.querySelector(sel);

export function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") n.className = v;
    else if (k === "text") n.textContent = v;
    else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) n.append(c);
  return n;
}

/**
 * Show an error in the page's alert region with an optional retry button.
 * ``err``: ApiFailure, or a translation key, or a plain string.
 */
export function showError(err, retry = null, retryLabel = "common.retry") {
  const box = $("#error");
  box.replaceChildren();
  let msg;
  if (err instanceof ApiFailure) msg = err.message_();
  else if (typeof err === "string" && has(err)) msg = t(err);
  else msg = String(err && err.message ? err.message : err);
  const kind = err instanceof ApiFailure ? err.kind + (err.code ? ` ${err.code}` : "") : "";
  box.append(el("p", { class: "error-text", "data-kind": kind, text: msg }));
  if (retry) {
    const b = el("button", { type: "button", class: "btn", id: "retry", text: t(retryLabel) });
    b.addEventListener("click", () => { clearError(); retry(); });
    box.append(b);
  }
  const dismiss = el("button", { type: "button", class: "btn btn-quiet", text: t("common.dismiss") });
  dismiss.addEventListener("click", clearError);
  box.append(dismiss);
  box.hidden = false;
  (retry ? $("#retry") : dismiss).focus();
}

export function clearError() {
  const box = $("#error");
  box.replaceChildren();
  box.hidden = true;
}

/** Run ``fn`` with ``buttons`` disabled and aria-busy set; re-enable them afterwards. */
export async function busy(buttons, fn) {
  const list = Array.isArray(buttons) ? buttons : [buttons];
  for (const b of list) { b.disabled = true; b.setAttribute("aria-busy", "true"); }
  try {
    return await fn();
  } finally {
    for (const b of list) { b.disabled = false; b.removeAttribute("aria-busy"); }
  }
}

/** A role's name in words ("clerk" → "营业员"), never the code. */
export const roleName = (role) => (has(`role.${role}`) ? t(`role.${role}`) : role);

/** Is the key in ``api`` an admin key? (GET /v1/keys is the admin's own harmless read.) */
async function isAdminKey(api) {
  try {
    await api.get("/v1/keys");
    return true;
  } catch {
    return false;
  }
}

/**
 * The sign-in form shared by the three pages. Calls ``onReady`` once a key of the page's role is in use.
 *
 * An admin key opens every page without giving the admin the page's duty (roles stay separate on the
 * server): the page offers to create a key of its own role with the admin key (``POST /v1/keys``,
 * audited), shows that key once, and signs this tab in with it.
 */
export function setupLogin(api, onReady) {
  const form = $("#login-form");
  const input = $("#api-key");
  const who = $("#whoami");
  const logout = $("#logout");
  const show = (signedIn) => {
    $("#login").hidden = signedIn;
    $("#app").hidden = !signedIn;
    who.hidden = !signedIn;
    logout.hidden = !signedIn;
  };
  logout.addEventListener("click", () => {
    api.setKey("");
    location.reload();
  });
  const panel = el("div", { id: "admin-panel", class: "admin-panel", hidden: true });
  form.after(panel);
  // one notice line over the page's content: the new key, a restored or cancelled registration
  const created = el("p", { id: "page-notice", class: "notice notice-ok", role: "status", hidden: true });
  $("#app").prepend(created);

  function offerRoleKey(adminKey) {
    const role = roleName(api.role);
    const label = el("input", { id: "admin-label", type: "text", maxlength: "200", autocomplete: "off",
      value: t(`login.admin.label.${api.role}`) });
    const make = el("button", { type: "button", class: "btn btn-primary", id: "admin-create", text: t("login.admin.create", { role }) });
    panel.replaceChildren(
      el("p", { text: t("login.admin.intro", { role }) }),
      el("label", { for: "admin-label", text: t("login.admin.labelfield") }), label,
      make);
    panel.hidden = false;
    make.addEventListener("click", async () => {
      clearError();
      api.key = adminKey;        // for this one request only: never written to sessionStorage
      try {
        const k = await busy(make, () => api.post("/v1/keys", { role: api.role, label: label.value.trim().slice(0, 200) }));
        api.setKey(k.key);
        panel.hidden = true;
        panel.replaceChildren();
        created.replaceChildren(
          el("span", { text: t("login.admin.created", { role, id: k.id }) }), " ",
          el("code", { id: "new-key", text: k.key }));
        created.hidden = false;
        show(true);
        onReady();
      } catch (e) {
        api.setKey("");
        showError(e);
      }
    });
    make.focus();
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearError();
    panel.hidden = true;
    const key = input.value.trim();
    if (!key) { showError("login.empty"); input.focus(); return; }
    api.setKey(key);
    const submit = form.querySelector("button[type=submit]");
    try {
      await busy(submit, () => api.checkKey());
      input.value = "";
      show(true);
      onReady();
    } catch (e) {
      if (e instanceof ApiFailure && e.kind === "forbidden" && await isAdminKey(api)) {
        api.setKey("");          // the admin key is never kept in the tab
        input.value = "";
        offerRoleKey(key);
        return;
      }
      api.setKey("");
      if (e instanceof ApiFailure && e.kind === "unauthorized") showError("login.bad");
      else if (e instanceof ApiFailure && e.kind === "forbidden") showError(t("login.wrongrole", { role: roleName(api.role) }));
      else showError(e, () => form.requestSubmit());
      input.focus();
    }
  });
  if (api.key) {
    api.checkKey().then(() => { show(true); onReady(); }).catch(() => { api.setKey(""); show(false); input.focus(); });
  } else {
    show(false);
  }
}

/** Short human form of a session/event id. */
export const shortId = (id) => (id ? String(id).slice(0, 8) : "");
