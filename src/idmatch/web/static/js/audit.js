// Audit page: chain verification (verified / broken at event N) and a filterable event list.

import { t, has, applyI18n, setupLangToggle, fmtTime } from "./i18n.js";
import { Api, $, el, busy, showError, clearError, setupLogin, shortId } from "./api.js";

const api = new Api("auditor");
const PAGE = 200;
const state = { events: [], after: 0, exhausted: false, types: new Set(), chain: null };

async function verify() {
  clearError();
  try {
    state.chain = await busy($("#verify"), () => api.get("/v1/audit/verify"));
    renderChain();
    renderEvents();      // mark the event the chain breaks at
  } catch (e) {
    showError(e, verify);
  }
}

/** The first event number named in the problems ("event 7: ..."), or null. */
export function brokenAt(problems) {
  let first = null;
  for (const p of problems || []) {
    const m = /event (\d+)/.exec(p);
    if (m) first = first === null ? +m[1] : Math.min(first, +m[1]);
  }
  return first;
}

function renderChain() {
  const c = state.chain;
  const box = $("#chain");
  box.replaceChildren();
  if (!c) return;
  box.className = `chain ${c.ok ? "chain-ok" : "chain-broken"}`;
  box.dataset.ok = String(c.ok);
  if (c.ok) {
    box.append(el("p", { class: "chain-line", text: t("audit.verified", { n: c.events }) }));
    return;
  }
  const n = brokenAt(c.problems);
  box.dataset.brokenAt = n === null ? "" : String(n);
  box.append(el("p", { class: "chain-line", text: n === null ? t("audit.broken.unknown") : t("audit.broken", { n }) }));
  box.append(el("p", { text: t("audit.problems") }), el("ul", {}, (c.problems || []).map((p) => el("li", { text: p }))));
}

function filters() {
  return { type: $("#f-type").value, session: $("#f-session").value.trim(), actor: $("#f-actor").value.trim() };
}

async function loadEvents(reset = false) {
  clearError();
  if (reset) { state.events = []; state.after = 0; state.exhausted = false; }
  const f = filters();
  const qs = new URLSearchParams({ after: String(state.after), limit: String(PAGE) });
  if (f.session.length === 36) qs.set("session_id", f.session);   // a full id: filtered by the server
  try {
    const rows = await busy([$("#more")], () => api.get(`/v1/audit/events?${qs}`));
    for (const r of rows) { state.events.push(r); state.types.add(r.type); }
    if (rows.length) state.after = rows[rows.length - 1].seq;
    state.exhausted = rows.length < PAGE;
    renderTypes();
    renderEvents();
  } catch (e) {
    showError(e, () => loadEvents(reset));
  }
}

function renderTypes() {
  const sel = $("#f-type");
  const have = new Set([...sel.options].map((o) => o.value));
  for (const ty of [...state.types].sort()) {
    if (!have.has(ty)) sel.append(el("option", { value: ty, text: typeName(ty) }));
  }
}

/** An event type in words ("review_decided" → "Review decided" / "复核已判定"); the code stays in the title. */
const typeName = (ty) => (has(`event.${ty}`) ? t(`event.${ty}`) : ty);

function summary(payload) {
  return Object.entries(payload || {}).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ");
}

function renderEvents() {
  const f = filters();
  const rows = state.events.filter((e) => (!f.type || e.type === f.type) && (!f.actor || e.actor.startsWith(f.actor))
    && (!f.session || (e.session_id || "").startsWith(f.session)));
  const body = $("#events tbody");
  body.replaceChildren();
  for (const e of rows) {
    const brk = state.chain && !state.chain.ok && brokenAt(state.chain.problems) === e.seq;
    body.append(el("tr", { "data-seq": e.seq, class: brk ? "row-broken" : null },
      el("td", { text: String(e.seq) }),
      el("td", { class: "when", text: fmtTime(e.ts, { seconds: true }) }),
      el("td", { "data-type": e.type, title: e.type, text: typeName(e.type) }),
      el("td", {}, e.session_id ? el("code", { title: e.session_id, text: shortId(e.session_id) }) : ""),
      el("td", {}, el("code", { text: e.actor })),
      el("td", { class: "payload", text: summary(e.payload) })));
  }
  $("#events-count").textContent = rows.length ? t("audit.count", { shown: rows.length }) : t("audit.none");
  $("#more").hidden = state.exhausted;
}

function init() {
  applyI18n();
  setupLangToggle($("#lang"), () => {
    renderChain();
    renderEvents();
    for (const o of $("#f-type").options) if (o.value) o.textContent = typeName(o.value);
  });
  api.onSlow = (slow) => { $("#slow").hidden = !slow; };
  $("#verify").addEventListener("click", verify);
  $("#more").addEventListener("click", () => loadEvents(false));
  $("#filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    // the session filter is applied by the server; type and actor on the loaded events
    loadEvents(true);
  });
  $("#f-type").addEventListener("change", renderEvents);
  $("#f-clear").addEventListener("click", () => { $("#filters").reset(); loadEvents(true); });
  setupLogin(api, () => { verify(); loadEvents(true); });
}

init();
