// Review desk: the queue of sessions in review, with scores and reasons; approve/reject with a reason.

import { t, has, applyI18n, setupLangToggle, joinSentences, fmtTime } from "./i18n.js";
import { Api, ApiFailure, $, el, busy, showError, clearError, setupLogin, shortId } from "./api.js";
import { renderReasons, scoreSummary, mergeReasons, reasonText, reasonFigures } from "./reasons.js";

const docType = (code) => (has(`doctype.${code}`) ? t(`doctype.${code}`) : t("doctype.other"));

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
      el("td", { text: docType(item.document_type) }),
      el("td", { class: "when", text: fmtTime(item.decided_at) }),
      el("td", { class: "scores", text: scoreSummary(item.reasons) }),
      el("td", { text: joinSentences(notable.map(reasonText)) }),
      el("td", {}, open)));
  }
}

function openDetail(item) {
  state.current = item;
  state.images = null;
  clearError();
  $("#detail").hidden = false;
  $("#detail-h").textContent = t("review.detail", { id: shortId(item.id) });
  $("#detail-meta").textContent = joinSentences([t("lookup.doctype", { doc: docType(item.document_type) }),
    t("review.sent", { at: fmtTime(item.decided_at) })]);
  $("#detail-reasons").replaceChildren(renderReasons(item.reasons));
  $("#detail-images").replaceChildren();
  $("#review-reason").value = "";
  $("#detail-h").focus();
  loadImages(item.id);
}

/** A session in review keeps its images until the review is decided; each viewing is audited by the server. */
async function loadImages(sid) {
  const box = $("#detail-images");
  let r = null;
  try {
    r = await api.get(`/v1/review/${sid}/images`);
  } catch (e) {
    if (!(e instanceof ApiFailure && (e.status === 404 || e.status === 409))) { showError(e, () => loadImages(sid)); return; }
  }
  if (!state.current || state.current.id !== sid) return;
  state.images = r;
  renderImages();
}

/** A thumbnail that enlarges on click, or Enter / Space when focused (it stays an image for assistive tech). */
function figure(im, label) {
  const img = el("img", { src: im.data_url, alt: label, tabindex: "0", class: "zoomable", title: t("review.enlarge", { what: label }) });
  img.addEventListener("click", () => enlarge(im.data_url, label, img));
  img.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); enlarge(im.data_url, label, img); }
  });
  return el("figure", { class: "thumb", "data-kind": im.kind }, img, el("figcaption", { text: label }));
}

const imageLabel = (im) => (im.kind === "portrait" ? t("review.images.portrait") : t("review.images.live", { n: im.frame + 1 }));

function renderImages() {
  const box = $("#detail-images");
  const r = state.images;
  const images = (r && r.images) || [];
  const parts = [];
  const matched = (r && r.matched) || [];
  if (matched.length) {
    // a duplicate-face case: this registration's faces beside the other registration's, with the score
    const mine = images.filter((im) => im.kind === "portrait").concat(images.filter((im) => im.kind === "live").slice(0, 1));
    for (const m of matched) {
      const other = (m.images || []).filter((im) => im.kind === "portrait").concat((m.images || []).filter((im) => im.kind === "live").slice(0, 1));
      const score = typeof m.score === "number" && typeof m.threshold === "number"
        ? reasonFigures({ stage: "duplicate_face", details: { score: m.score, threshold: m.threshold } }) : "";
      parts.push(el("div", { class: "dup", "data-matched": m.session_id },
        el("p", { class: "dup-title", text: joinSentences([t("review.dup.title", { id: shortId(m.session_id) }), score]) }),
        el("div", { class: "dup-pair" },
          el("div", { class: "dup-side", "data-side": "this" }, el("h3", { text: t("review.dup.this") }),
            mine.length ? el("div", { class: "images" }, ...mine.map((im) => figure(im, imageLabel(im))))
              : el("p", { class: "help", text: t("review.images.none") })),
          el("div", { class: "dup-side", "data-side": "other" }, el("h3", { text: t("review.dup.other", {
            status: has(`review.status.${m.status}`) ? t(`review.status.${m.status}`) : "", doc: docType(m.document_type) }) }),
            other.length ? el("div", { class: "images" }, ...other.map((im) => figure(im, t("review.dup.other.img", { what: imageLabel(im) }))))
              : el("p", { class: "help", text: t("review.dup.other.none") })))));
    }
  }
  if (!images.length) parts.push(el("p", { class: "help", text: t("review.images.none") }));
  else {
    parts.push(el("h3", { text: t("review.images.all") }));
    parts.push(el("div", { class: "images" }, ...images.map((im) => figure(im, imageLabel(im)))));
  }
  box.replaceChildren(...parts);
}

/** A picture at full size in a modal dialog (Escape or the button closes it; focus returns to the thumbnail). */
function enlarge(src, label, from = null) {
  const dlg = $("#zoom");
  dlg.onclose = () => { if (from) from.focus(); };
  $("#zoom-img").src = src;
  $("#zoom-img").alt = label;
  $("#zoom-cap").textContent = label;
  dlg.showModal();
  $("#zoom-close").focus();
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
  setupLangToggle($("#lang"), () => {
    renderQueue();
    if (state.current) {
      $("#detail-h").textContent = t("review.detail", { id: shortId(state.current.id) });
      $("#detail-meta").textContent = joinSentences([t("lookup.doctype", { doc: docType(state.current.document_type) }),
        t("review.sent", { at: fmtTime(state.current.decided_at) })]);
      $("#detail-reasons").replaceChildren(renderReasons(state.current.reasons));
      renderImages();
    }
  });
  $("#zoom-close").addEventListener("click", () => $("#zoom").close());
  $("#zoom").addEventListener("click", (ev) => { if (ev.target === $("#zoom")) $("#zoom").close(); });
  api.onSlow = (slow) => { $("#slow").hidden = !slow; };
  $("#refresh").addEventListener("click", loadQueue);
  $("#approve").addEventListener("click", () => decide("approved"));
  $("#reject").addEventListener("click", () => decide("rejected"));
  $("#close-detail").addEventListener("click", closeDetail);
  $("#review-form").addEventListener("submit", (ev) => ev.preventDefault());
  setupLogin(api, loadQueue);
}

init();
