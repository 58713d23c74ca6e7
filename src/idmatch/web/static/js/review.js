// Review desk: the queue of sessions in review, with scores and reasons; approve/reject with a reason.

import { t, applyI18n, setupLangToggle } from "./i18n.js";
import { Api, ApiFailure, $, el, busy, showError, clearError, setupLogin, shortId } from "./api.js";
import { renderReasons, scoreSummary, mergeReasons, reasonText } from "./reasons.js";

const api = new Api("reviewer");
const state = { queue: [], current: null, sending: false };

async function loadQueue() {
  clearError();
  try {
    state.queue = await busy($("#refresh"), () => api.get("/v1/review?limit=200"));
    renderQueue();
  } catch (e) {
    showError(e, loadQueue);
  }
}

function renderQueue() {
  const body = $("#queue tbody");
  body.replaceChildren();
  $("#queue").hidden = state.queue.length === 0;
  $("#queue-empty").hidden = state.queue.length !== 0;
  for (const item of state.queue) {
    const notable = mergeReasons(item.reasons).filter((r) => r.outcome === "review" || r.outcome === "fail");
    const open = el("button", { type: "button", class: "btn", "data-session": item.id, text: t("review.open"),
      "aria-label": `${t("review.open")} ${shortId(item.id)}` });
    open.addEventListener("click", () => openDetail(item));
    body.append(el("tr", { "data-session": item.id },
      el("td", {}, el("code", { title: item.id, text: shortId(item.id) })),
      el("td", { text: item.document_type }),
      el("td", { text: (item.decided_at || "").replace("T", " ").replace("Z", "") }),
      el("td", { class: "scores", text: scoreSummary(item.reasons) }),
      el("td", { text: notable.map(reasonText).join(" ") }),
      el("td", {}, open)));
  }
}

function openDetail(item) {
  state.current = item;
  clearError();
  $("#detail").hidden = false;
  $("#detail-h").textContent = t("review.detail", { id: shortId(item.id) });
  $("#detail-reasons").replaceChildren(renderReasons(item.reasons));
  $("#detail-images").replaceChildren();
  $("#review-reason").value = "";
  $("#detail-h").focus();
  loadImages(item.id);
}

/** Images exist only while the retention policy keeps them; each viewing is audited by the server. */
async function loadImages(sid) {
  const box = $("#detail-images");
  let images = [];
  try {
    const r = await api.get(`/v1/review/${sid}/images`);
    images = (r && r.images) || [];
  } catch (e) {
    if (!(e instanceof ApiFailure && (e.status === 404 || e.status === 409))) { showError(e, () => loadImages(sid)); return; }
  }
  if (!state.current || state.current.id !== sid) return;
  if (!images.length) {
    box.replaceChildren(el("p", { class: "help", text: t("review.images.none") }));
    return;
  }
  box.replaceChildren(...images.map((im) => {
    const label = im.kind === "portrait" ? t("review.images.portrait") : t("review.images.live", { n: im.frame + 1 });
    return el("figure", { class: "thumb" }, el("img", { src: im.data_url, alt: label }), el("figcaption", { text: label }));
  }));
}

function closeDetail() {
  const id = state.current && state.current.id;
  state.current = null;
  $("#detail").hidden = true;
  const btn = id && document.querySelector(`button[data-session="${id}"]`);
  (btn || $("#queue-h")).focus();
}

async function decide(outcome) {
  if (!state.current || state.sending) return;
  clearError();
  const reason = $("#review-reason").value.trim();
  if (reason.length < 5) { showError("review.reason.short"); $("#review-reason").focus(); return; }
  state.sending = true;
  const sid = state.current.id;
  try {
    await busy([$("#approve"), $("#reject")], () => api.post(`/v1/review/${sid}`, { outcome, reason }));
    done(sid, outcome);
  } catch (e) {
    // a retry that finds the session already decided means the first attempt went through
    if (e instanceof ApiFailure && e.code === "not_in_review") {
      try {
        const s = await api.get(`/v1/sessions/${sid}`);
        if (s.review && s.status === outcome) { done(sid, outcome); return; }
      } catch { /* fall through to the error */ }
    }
    showError(e, () => decide(outcome));
  } finally {
    state.sending = false;
  }
}

function done(sid, outcome) {
  state.queue = state.queue.filter((q) => q.id !== sid);
  renderQueue();
  $("#done").textContent = t(`review.done.${outcome}`);
  state.current = null;
  $("#detail").hidden = true;
  $("#queue-h").setAttribute("tabindex", "-1");
  $("#queue-h").focus();
}

function init() {
  applyI18n();
  setupLangToggle($("#lang"), () => { renderQueue(); if (state.current) openDetail(state.current); });
  api.onSlow = (slow) => { $("#slow").hidden = !slow; };
  $("#refresh").addEventListener("click", loadQueue);
  $("#approve").addEventListener("click", () => decide("approved"));
  $("#reject").addEventListener("click", () => decide("rejected"));
  $("#close-detail").addEventListener("click", closeDetail);
  $("#review-form").addEventListener("submit", (ev) => ev.preventDefault());
  setupLogin(api, loadQueue);
}

init();
