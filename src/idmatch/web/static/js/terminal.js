// Store terminal: sign in → applicant + consent → ID portrait → live capture (guidance, challenge) → decision.
//
// The live capture follows the server's challenge: "Begin" starts a continuous capture (10 frames a
// second for the challenge's capture_s), each step is prompted exactly at its prompt_at time, and the
// whole capture goes to the server with each frame's capture time. The page judges nothing: it does
// not pick frames or read head poses. A failed challenge comes back with a fresh one (retry in place);
// a network or server failure resends the same capture under the same Idempotency-Key.

import { t, has, applyI18n, setupLangToggle, currentLang, joinSentences, fmtTime } from "./i18n.js";
import { Api, ApiFailure, $, el, busy, showError, clearError, setupLogin, newIdempotencyKey } from "./api.js";
import { CameraError, startCamera, stopCamera, grabFrame, captureLoop, sleep } from "./camera.js";
import { renderReasons, challengeSentence, challengeTip, reasonText, mergeReasons } from "./reasons.js";

const CONSENT_VERSION = "idmatch-web-consent-2";   // 2: pictures kept, encrypted, for a manual review
const GUIDANCE_EVERY_MS = 1000;     // before the capture: one frame a second for coarse guidance
const CAPTURE_FPS = 10;             // the capture the server judges: continuous, 10 frames a second
const FRAME_SIDE = 480, FRAME_QUALITY = 0.85;   // small frames: a capture is at most ~150 of them
const PASSIVE = { fps: 3, seconds: 1.0 };       // a session without a challenge: four frames over a second
const BACK_TO_CENTRE_S = 1.8;       // after the last prompt, ask to look ahead again (if the capture runs on)
const START_MARGIN_S = 5;           // a challenge that would expire before capture_s + this is renewed first
const SEND_TIMEOUT_MS = 60000;      // the server judges the whole capture: give it time on a busy machine
const SEND_SLOW_MS = 20000;         // ... and say "slow" only well after a normal judgement (a few seconds)
const SEND_TRIES = 5;               // automatic sends of one capture on network/server failure
const BACKOFF_S = [1, 2, 4, 8];     // waits between them; a Retry-After from the server wins (up to 20 s)
const RETRY_AFTER_MAX_S = 20;
const SESSION_WARN_S = 120;         // warn when the registration itself expires sooner than this
// the capture's challenge is no longer the session's: expired, or already answered (a lost answer's resend)
const EXPIRED_CODES = ["challenge_expired", "challenge_replaced", "nonce_expired", "challenge_used"];
const IN_PROGRESS = "idmatch.terminal.session";   // sessionStorage: the id of the registration in progress (reload restores it)
const RECENT = "idmatch.terminal.recent";          // sessionStorage: references started in this window (ids only)
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const api = new Api("clerk");
const state = {
  session: null,          // SessionOut from the server
  createIdem: null,       // Idempotency-Key of the pending "create session" request
  portraitBlob: null,
  capture: null,          // {nonce, frames, times, idem, sends} until the server has answered for it
  lastAttempt: null,      // {codes, messages, notCounted} of the failed attempt shown on the retry screen
  guidanceTimer: null,
  guidanceBusy: false,
  running: false,         // a capture is in progress
  sending: false,
  timers: [],             // prompt timers of the running capture
  ui: {},                 // element id → {key, vars} of the dynamic texts (re-translated on a language switch)
  trace: null,            // what the last capture did (diagnostics for the browser tests; no images)
  portraitFace: null,     // {box, image_size, rotation} of the face the server cut from the portrait (PUT answer)
  bestFrame: null,        // one frontal frame of the capture, kept in this page's memory only (result screen)
  lookup: null,           // the last looked-up session (re-rendered on a language switch)
};

// ---- step navigation ---------------------------------------------------------------------------

function goto(step) {
  for (const s of ["applicant", "portrait", "live", "result"]) {
    $(`#step-${s}`).hidden = s !== step;
    const li = $(`#steps li[data-step="${s}"]`);
    if (s === step) li.setAttribute("aria-current", "step");
    else li.removeAttribute("aria-current");
  }
  document.body.dataset.step = step;
  $("#lookup").hidden = !(step === "applicant" || step === "result");
  if (step === "live" || step === "result") $("#page-notice").hidden = true;
  if (step === "result" || step === "applicant") sessionStorage.removeItem(IN_PROGRESS);
  if (step !== "live") stopLive();
  if (step !== "portrait") stopCamera($("#doc-video"));
  $(`#step-${step} h2`).focus();
}

function reset() {
  state.session = null;
  state.createIdem = null;
  state.portraitBlob = null;
  state.capture = null;
  state.lastAttempt = null;
  state.portraitFace = null;
  dropBestFrame();
  $("#applicant-form").reset();
  $("#portrait-file").value = "";
  $("#portrait-img").hidden = true;
  $("#portrait-img").removeAttribute("src");
  $("#doc-camera").hidden = true;
  clearError();
  goto("applicant");
}

// ---- errors that mean "start over" ----------------------------------------------------------

function handleFailure(e, retry) {
  if (e instanceof ApiFailure && e.kind === "unauthorized") {
    showError(e, () => { api.setKey(""); location.reload(); });
    return;
  }
  if (e instanceof ApiFailure && ["session_expired", "challenge_expired", "session_not_found"].includes(e.code)) {
    showError(e, reset);
    return;
  }
  showError(e, retry);
}

// ---- 1. applicant and consent --------------------------------------------------------------

async function submitApplicant(ev) {
  ev && ev.preventDefault();
  clearError();
  const number = $("#doc-number").value.trim();
  if (!number) { showError("docnumber.required"); $("#doc-number").focus(); return; }
  if (!$("#consent").checked) { showError("consent.required"); $("#consent").focus(); return; }
  const body = {
    document: { type: $("#doc-type").value, number },
    consent: { text_version: `${CONSENT_VERSION}.${document.documentElement.lang}`, given_at: new Date().toISOString(), channel: "store" },
  };
  // one key per registration attempt: a retry after a timeout gets the same session back
  if (!state.createIdem) state.createIdem = { key: newIdempotencyKey(), body };
  try {
    state.session = await busy($("#applicant-next"), () =>
      api.post("/v1/sessions", state.createIdem.body, { idem: state.createIdem.key }));
    rememberSession(state.session.id);
    goto("portrait");
  } catch (e) {
    if (e instanceof ApiFailure && e.code === "document_number_invalid") {
      state.createIdem = null;      // the corrected number is a new request
      const rule = e.body && e.body.details ? e.body.details.rule : "";
      showError(has(`docnumber.rule.${rule}`) ? `docnumber.rule.${rule}` : e);
      $("#doc-number").focus();
      return;
    }
    handleFailure(e, () => submitApplicant());
  }
}

// ---- 2. ID portrait ----------------------------------------------------------------------------

function setPortrait(blob) {
  state.portraitBlob = blob;
  const img = $("#portrait-img");
  if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(blob);
  img.alt = t("portrait.preview");
  img.hidden = false;
}

async function openDocCamera() {
  clearError();
  $("#doc-camera").hidden = false;
  try {
    await busy($("#portrait-camera"), () => startCamera($("#doc-video"), "environment"));
    $("#portrait-snap").focus();
  } catch (e) {
    $("#doc-camera").hidden = true;
    showError(e instanceof CameraError ? e.i18nKey : e, openDocCamera);
  }
}

async function snapDocument() {
  const blob = await grabFrame($("#doc-video"), { maxSide: 1920, quality: 0.95 });
  if (blob) setPortrait(blob);
  stopCamera($("#doc-video"));
  $("#doc-camera").hidden = true;
  $("#portrait-send").focus();
}

/** A portrait the server could not use: the same file again would fail the same way, so "retry" asks for another. */
function chooseAnotherPortrait() {
  state.portraitBlob = null;
  $("#portrait-file").value = "";
  const img = $("#portrait-img");
  img.hidden = true;
  img.removeAttribute("src");
  $("#portrait-file").focus();
}

async function sendPortrait() {
  clearError();
  if (!state.portraitBlob) { showError("portrait.none"); $("#portrait-file").focus(); return; }
  const fd = new FormData();
  fd.append("image", state.portraitBlob, state.portraitBlob.name || "portrait.jpg");
  try {
    // PUT is idempotent on the server (the same image again returns the same state)
    const issued = state.session.challenge;
    state.session = await busy([$("#portrait-send"), $("#portrait-camera"), $("#portrait-back"), $("#portrait-cancel")], () =>
      api.put(`/v1/sessions/${state.session.id}/portrait`, fd));
    if (!state.session.challenge) state.session.challenge = issued;   // a server that does not repeat it
    state.portraitFace = state.session.portrait_face || null;
    goto("live");
    startLive();
  } catch (e) {
    if (e instanceof ApiFailure && e.kind === "client" && e.status !== 404 && e.status !== 410) {
      showError(e, chooseAnotherPortrait, "portrait.choose_other");    // no face, not an image, too large …
      return;
    }
    handleFailure(e, () => sendPortrait());
  }
}

// ---- 3. live capture -----------------------------------------------------------------------------

const video = () => $("#live-video");

/** Set a dynamic text by translation key, remembered so a language switch re-renders it. */
function setT(id, key, vars = {}) {
  state.ui[id] = key ? { key, vars } : null;
  const node = $(`#${id}`);
  const text = key ? t(key, vars) : "";
  if (node.textContent !== text) node.textContent = text;
  return text;
}

function retranslate() {
  for (const [id, v] of Object.entries(state.ui)) if (v) setT(id, v.key, v.vars);
  if (!$("#retry-panel").hidden) renderRetryPanel();
  const ch = challenge();
  if (ch) renderStepChips(ch, currentStepIndex());
  setupSpeech();
}

function setPrompt(key, vars) { return setT("prompt", key, vars); }
function setGuidance(key, kind = "", vars = {}) {
  setT("guidance", key, vars);
  $("#guidance").dataset.kind = kind;
}
function setCue(action) { $("#cue").dataset.action = action || ""; }
function setProgress(fraction, labelKey, vars) {
  const p = $("#progress");
  p.hidden = fraction === null;
  p.max = 100;
  p.value = Math.round(100 * Math.max(0, Math.min(1, fraction || 0)));
  setT("progress-label", labelKey, vars);
}

const challenge = () => state.session && state.session.challenge;
const isActive = (ch) => !!ch && ch.mode === "active" && Array.isArray(ch.actions) && ch.actions.length > 0;
function actionName(a) { return typeof a === "string" ? a : (a && (a.action || a.type || a.name)) || String(a); }
const stepsOf = (ch) => (isActive(ch) ? ch.actions.map(actionName) : []);

/** The prompt schedule: the server's, or (an older server without one) a prompt every 2.5 s. */
function scheduleOf(ch) {
  const steps = stepsOf(ch);
  if (!steps.length) return { steps, prompts: [], seconds: PASSIVE.seconds, fps: PASSIVE.fps };
  const prompts = Array.isArray(ch.prompt_at) && ch.prompt_at.length === steps.length
    ? ch.prompt_at.map(Number) : steps.map((_, k) => 1.5 + 2.5 * k);
  const seconds = Number(ch.capture_s) > 0 ? Number(ch.capture_s) : prompts[prompts.length - 1] + 2.6;
  return { steps, prompts, seconds, fps: CAPTURE_FPS };
}

/** Seconds until ``iso`` on the server's clock (Infinity when there is no such time). */
function secondsUntil(iso) {
  const at = Date.parse(iso || "");
  return Number.isFinite(at) ? (at - api.serverNow()) / 1000 : Infinity;
}

async function startLive() {
  clearError();
  setPrompt("");
  setCue("");
  setProgress(null, "");
  $("#live-begin").disabled = true;
  renderStepChips(challenge(), -1);
  warnIfSessionEnding();
  try {
    await busy($("#live-camera"), () => startCamera(video(), "user"));
  } catch (e) {
    $("#live-camera").hidden = false;
    showError(e instanceof CameraError ? e.i18nKey : e, startLive);
    return;
  }
  $("#live-camera").hidden = true;
  $("#live-begin").disabled = false;
  setGuidance("live.guidance.wait");
  startGuidance();
  $("#live-begin").focus();
}

function stopLive() {
  stopGuidance();
  clearPromptTimers();
  if (state.abort) state.abort.abort();
  state.running = false;
  stopCamera(video());
  $("#live-camera").hidden = false;
  $("#retry-panel").hidden = true;
  $("#outage").hidden = true;
  if (window.speechSynthesis) window.speechSynthesis.cancel();
}

function warnIfSessionEnding() {
  const left = secondsUntil(state.session && state.session.expires_at);
  const warn = left < SESSION_WARN_S;
  $("#expiry").hidden = !warn;
  if (warn) setT("expiry", "live.session_ending", { min: Math.max(0, Math.floor(left / 60)), s: Math.max(0, Math.round(left)) });
}

// -- coarse guidance before the capture (face found, centred, distance, light) --

function startGuidance() {
  stopGuidance();
  state.guidanceTimer = setInterval(guidanceTick, GUIDANCE_EVERY_MS);
  guidanceTick();
}

function stopGuidance() {
  if (state.guidanceTimer) clearInterval(state.guidanceTimer);
  state.guidanceTimer = null;
  $("#stage").dataset.face = "";
}

/** Advice codes from a /v1/frame-check answer, whatever its generation (coarse codes or quality codes). */
function guidanceCodes(r) {
  const codes = [];
  if (!r) return codes;
  if (r.faces === 0) codes.push("no_face");
  else if (r.faces > 1) codes.push("multiple_faces");
  const g = r.guidance;
  for (const src of [r.codes, g && (Array.isArray(g) ? g : g.codes), r.quality && r.quality.codes]) {
    if (Array.isArray(src)) codes.push(...src.map(String));
  }
  return [...new Set(codes)].filter((c) => c !== "ok");      // ["ok"]: nothing to fix
}

// When several checks fail, say first what fixes most: a dark image is also "blurry", a far one "low resolution".
const ADVICE_ORDER = ["no_face", "multiple_faces", "too_dark", "too_bright", "face_too_small", "too_far", "too_close",
  "face_too_large", "face_cut_off", "off_centre", "face_off_centre", "not_centred", "image_rotated", "face_covered",
  "eyes_not_visible", "head_pose", "head_tilted", "uneven_light", "blurry", "low_resolution", "compression", "quality_too_low"];

async function guidanceTick() {
  if (state.guidanceBusy || state.running || state.sending) return;
  state.guidanceBusy = true;
  warnIfSessionEnding();
  try {
    const blob = await grabFrame(video(), { maxSide: 640, quality: 0.85 });
    if (!blob) return;
    const fd = new FormData();
    fd.append("image", blob, "frame.jpg");
    const r = await api.post("/v1/frame-check?quality=true", fd, { timeoutMs: 8000 });
    if (state.running || state.sending || !state.guidanceTimer) return;
    showGuidance(r);
  } catch (e) {
    if (state.running || state.sending || !state.guidanceTimer) return;
    if (e instanceof ApiFailure && (e.code === "no_face" || e.code === "multiple_faces")) showGuidance({ faces: e.code === "no_face" ? 0 : 2 });
    else if (e instanceof ApiFailure && (e.status === 404 || e.status === 405 || e.status === 501)) { stopGuidance(); setGuidance(""); }
    else if (e instanceof ApiFailure && e.transient) setGuidance("live.slow", "slow");
  } finally {
    state.guidanceBusy = false;
  }
}

function showGuidance(r) {
  const codes = guidanceCodes(r);
  const stage = $("#stage");
  const ok = r && r.faces === 1 && !codes.length && !(r.quality && r.quality.passed === false) && r.ok !== false;
  if (ok) { stage.dataset.face = "ok"; setGuidance("live.guidance.ok", "ok"); return; }
  stage.dataset.face = codes.includes("no_face") ? "none" : "adjust";
  const rank = (c) => { const i = ADVICE_ORDER.indexOf(c); return i < 0 ? ADVICE_ORDER.length : i; };
  const c = [...codes].sort((a, b) => rank(a) - rank(b))[0] || "quality_too_low";
  if (has(`q.${c}`)) setGuidance(`q.${c}`, c);
  else setGuidance("q.quality_too_low", c);
}

// -- the capture --

/** Progress per step: "look ahead", then one chip per movement, the current one marked. */
function renderStepChips(ch, current) {
  const list = $("#challenge-steps");
  const steps = stepsOf(ch);
  if (!steps.length) { list.replaceChildren(); list.hidden = true; return; }
  const names = ["center", ...steps];
  list.replaceChildren(...names.map((a, i) => el("li", {
    "data-action": a, "data-state": i < current ? "done" : i === current ? "current" : "pending",
    "aria-current": i === current ? "step" : null,
  }, el("span", { class: "chip-arrow", "aria-hidden": "true", text: ARROWS[a] || "" }),
  el("span", { text: has(`chip.${a}`) ? t(`chip.${a}`) : a }))));
  list.hidden = false;
  list.dataset.current = String(current);
}

const ARROWS = { center: "●", turn_left: "←", turn_right: "→", look_up: "↑", look_down: "↓", move_closer: "⤢" };
const currentStepIndex = () => Number($("#challenge-steps").dataset.current ?? -1);

function clearPromptTimers() {
  for (const id of state.timers) clearTimeout(id);
  state.timers = [];
}

/** Show step ``k`` (0: look ahead; 1..N: the movements) and say it, if speech is on. */
function showStep(k, steps, total) {
  const a = k === 0 ? "center" : steps[k - 1];
  const text = setPrompt(has(`action.${a}`) ? `action.${a}` : "action.center");
  setCue(a);
  renderStepChips(challenge(), k);
  setT("progress-label", "live.step", { n: k + 1, total });
  speak(text);
}

/** Prompts at their scheduled times from the capture start ``t0`` (performance.now() ms). */
function schedulePrompts(t0, sched) {
  const { steps, prompts, seconds } = sched;
  const total = steps.length + 1;
  const at = (s, fn) => state.timers.push(setTimeout(fn, Math.max(0, t0 + s * 1000 - performance.now())));
  showStep(0, steps, total);
  steps.forEach((_, k) => at(prompts[k], () => {
    state.trace.shown.push({ step: steps[k], at_s: Math.round(performance.now() - t0) / 1000 });
    showStep(k + 1, steps, total);
  }));
  const back = prompts.length ? prompts[prompts.length - 1] + BACK_TO_CENTRE_S : null;
  if (back !== null && back < seconds - 0.3) {
    at(back, () => { setPrompt("live.hold"); setCue("center"); speak(t("live.hold")); });
  }
}

async function capture(ch) {
  const sched = scheduleOf(ch);
  state.trace = { nonce: ch && ch.nonce, steps: sched.steps, prompt_at: sched.prompts, capture_s: sched.seconds,
    shown: [], frames: 0, sends: [] };
  window.idmatchCaptureTrace = state.trace;
  state.abort = new AbortController();
  if (!sched.steps.length) { setPrompt("live.passive"); setCue("center"); }
  setProgress(0, sched.steps.length ? "live.step" : "live.capturing", { n: 1, total: sched.steps.length + 1 });
  const out = await captureLoop(video(), sched.fps, sched.seconds, (elapsed, { t0, index }) => {
    if (index === -1 && sched.steps.length) schedulePrompts(t0, sched);
    $("#progress").value = Math.round((100 * elapsed) / sched.seconds);
  }, { maxSide: FRAME_SIDE, quality: FRAME_QUALITY, signal: state.abort.signal });
  keepBestFrame(out, sched);
  const dts = out.times.slice(1).map((x, i) => x - out.times[i]).sort((a, b) => a - b);
  Object.assign(state.trace, { frames: out.frames.length, last_s: out.times[out.times.length - 1],
    median_dt: dts.length ? dts[dts.length >> 1] : null, max_dt: dts.length ? dts[dts.length - 1] : null,
    bytes: out.frames.reduce((n, b) => n + b.size, 0) });
  return out;
}

/** A challenge that would run out before the capture is done is replaced first (not an attempt). */
async function freshEnough(ch) {
  if (!isActive(ch) || secondsUntil(ch.deadline) >= scheduleOf(ch).seconds + START_MARGIN_S) return ch;
  const id = state.session.id;
  let s = null;
  try {
    s = await api.post(`/v1/sessions/${id}/challenge`, {}, { idem: newIdempotencyKey() });
  } catch (e) {
    if (!(e instanceof ApiFailure && (e.status === 404 || e.status === 405))) throw e;
    s = await api.get(`/v1/sessions/${id}`);     // a server that renews the challenge when the session is read
  }
  if (s && s.challenge && s.status === "awaiting_live") {
    state.session = { ...state.session, ...s };
    renderStepChips(s.challenge, -1);
    if (secondsUntil(s.challenge.deadline) >= scheduleOf(s.challenge).seconds + 1) return s.challenge;
  }
  throw new ApiFailure("client", { status: 410, code: "challenge_expired", detail: "the challenge ran out before the check began" });
}

async function begin() {
  if (state.running || state.sending) return;
  clearError();
  if (state.capture) { await send(state.capture); return; }   // a capture still owed an answer: the same one again
  let ch;
  try {
    ch = await busy($("#live-begin"), () => freshEnough(challenge()));
  } catch (e) {
    handleFailure(e, begin);
    return;
  }
  state.running = true;
  setLiveNav(false);
  stopGuidance();
  setGuidance("");
  $("#retry-panel").hidden = true;
  $("#outage").hidden = true;
  $("#stage").scrollIntoView({ block: "center", behavior: "instant" });   // the whole preview in view while it runs
  $("#live-begin").disabled = true;
  let out;
  // a hidden page gets its timers throttled: the frames would come late and the applicant would be blamed
  const onHide = () => { if (document.visibilityState === "hidden" && state.abort) state.abort.abort(); };
  document.addEventListener("visibilitychange", onHide);
  try {
    out = await capture(ch);
  } catch (e) {
    state.running = false;
    setLiveNav(true);
    clearPromptTimers();
    setPrompt("");
    setCue("");
    $("#live-begin").disabled = false;
    handleFailure(e instanceof CameraError ? e.i18nKey : e, begin);
    return;
  }
  finally {
    document.removeEventListener("visibilitychange", onHide);
  }
  clearPromptTimers();
  state.running = false;
  setLiveNav(true);
  if (state.abort.signal.aborted) {             // interrupted: nothing is sent, nothing counts
    if (document.body.dataset.step !== "live") return;     // the clerk left the step
    setPrompt("");
    setCue("");
    setProgress(null, "");
    $("#outage").hidden = false;
    setT("outage", "live.interrupted");
    renderStepChips(challenge(), -1);
    $("#live-begin").disabled = false;
    startGuidance();
    return;
  }
  state.capture = { nonce: ch ? ch.nonce : "", frames: out.frames, times: out.times, idem: newIdempotencyKey(), sends: 0 };
  await send(state.capture);
}

function captureForm(c) {
  const fd = new FormData();
  c.frames.forEach((b, i) => fd.append("frames", b, `frame${String(i).padStart(3, "0")}.jpg`));
  if (c.nonce) fd.append("nonce", c.nonce);
  fd.append("frame_times", JSON.stringify(c.times));
  return fd;
}

/** Send a capture until the server answers for it. Failures of the network or the server are not the
 *  applicant's: they are said as such and the same capture is resent under the same Idempotency-Key. */
async function send(c) {
  state.sending = true;
  setLiveNav(false);
  stopGuidance();
  $("#live-begin").disabled = true;
  setPrompt("");
  setCue("");
  setProgress(1, "");
  setGuidance("live.sending", "sending");
  const prevNonce = c.nonce;
  try {
    for (;;) {
      c.sends += 1;
      const t0 = performance.now();
      try {
        const s = await api.post(`/v1/sessions/${state.session.id}/live`, captureForm(c), { idem: c.idem, timeoutMs: SEND_TIMEOUT_MS, slowMs: SEND_SLOW_MS });
        if (state.trace) state.trace.sends.push({ ok: true, ms: Math.round(performance.now() - t0) });
        state.capture = null;
        $("#outage").hidden = true;
        answer(s, prevNonce, c.sends > 1);
        return;
      } catch (e) {
        if (state.trace) state.trace.sends.push({ ok: false, kind: e.kind, status: e.status, code: e.code });
        if (e instanceof ApiFailure && e.transient && c.sends < SEND_TRIES) {
          const wait = e.retryAfter !== null && e.retryAfter !== undefined
            ? Math.min(e.retryAfter, RETRY_AFTER_MAX_S) : BACKOFF_S[Math.min(c.sends - 1, BACKOFF_S.length - 1)];
          showOutage(e, wait, c.sends + 1);
          await sleep(wait * 1000);
          setGuidance("live.sending", "sending");
          continue;
        }
        $("#outage").hidden = true;
        setGuidance("");
        setProgress(null, "");
        if (e instanceof ApiFailure && e.transient) {
          // still no answer: the capture is kept; "Try again" sends it once more, as it is
          showError(t("live.outage.giveup"), () => send(c));
          $("#live-begin").disabled = false;
          return;
        }
        if (e instanceof ApiFailure && EXPIRED_CODES.includes(e.code)) {
          await expiredMeanwhile(c.sends > 1, c.nonce);
          return;
        }
        if (e instanceof ApiFailure && e.code === "session_decided") {
          // an earlier send of this capture was decided, its answer lost on the way: show that decision
          await expiredMeanwhile(c.sends > 1, c.nonce);
          return;
        }
        $("#live-begin").disabled = false;
        handleFailure(e, () => send(c));
        return;
      }
    }
  } finally {
    state.sending = false;
    setLiveNav(true);
  }
}

function showOutage(e, waitS, nextTry) {
  const key = e.kind === "server" || e.kind === "rate_limited" ? "live.outage.server" : "live.outage.network";
  $("#outage").hidden = false;
  setT("outage", key, { s: Math.round(waitS), n: nextTry, max: SEND_TRIES });
  setGuidance("live.outage.kept", "outage");
}

/** The capture's challenge ran out (while the connection was down, or the server refused its nonce as
 *  expired or already answered): not the applicant's doing. A fresh challenge means a new attempt, in place. */
async function expiredMeanwhile(afterOutage, oldNonce) {
  state.capture = null;
  let s;
  try {
    s = await api.get(`/v1/sessions/${state.session.id}`);
    state.session = s;
    if (s.decision || ["approved", "rejected", "review"].includes(s.status)) { showResult(); return; }
    if (s.status === "awaiting_live" && (!s.challenge || s.challenge.nonce === oldNonce
        || secondsUntil(s.challenge.deadline) < scheduleOf(s.challenge).seconds + 1)) {
      await freshEnough({ ...s.challenge, deadline: "1970-01-01T00:00:00Z" });   // ask for a new one
    }
  } catch (e) {
    showError(e instanceof ApiFailure && EXPIRED_CODES.includes(e.code) ? "err.challenge_expired_outage" : e,
      e instanceof ApiFailure && e.transient ? () => expiredMeanwhile(afterOutage, oldNonce) : reset);
    return;
  }
  const last = state.session.last_attempt;
  const codes = last && Array.isArray(last.codes) && last.codes.length ? last.codes : ["challenge_expired"];
  state.lastAttempt = { codes, messages: (last && last.messages) || [], notCounted: afterOutage };
  showRetry();
}

/** The server's answer to a capture: a decision, or a fresh challenge for another attempt. */
function answer(s, prevNonce, afterOutage) {
  state.session = s;
  const decided = s.decision || ["approved", "rejected", "review"].includes(s.status);
  if (!decided && s.status === "awaiting_live" && s.challenge && s.challenge.nonce !== prevNonce) {
    const last = s.last_attempt || {};
    const codes = Array.isArray(last.codes) ? last.codes : [];
    state.lastAttempt = { codes, messages: Array.isArray(last.messages) ? last.messages : [],
      notCounted: last.counted === false || (afterOutage && codes.every((c) => c === "challenge_expired")) };
    showRetry();
    return;
  }
  showResult();
}

/** "Let's try again": what went wrong in plain words, which attempt this is, a Begin for the new challenge. */
function showRetry() {
  setPrompt("");
  setCue("");
  setProgress(null, "");
  renderRetryPanel();
  $("#retry-panel").hidden = false;
  renderStepChips(challenge(), -1);
  $("#live-begin").disabled = false;
  setGuidance("live.guidance.wait");
  startGuidance();
  speak(t("retry.title"));
  $("#live-begin").focus();
}

function renderRetryPanel() {
  const last = state.lastAttempt || { codes: [], messages: [] };
  const a = state.session && state.session.attempts;
  $("#retry-title").textContent = t("retry.title");
  const why = last.codes.length
    ? last.codes.map((c, i) => [c, joinSentences([challengeSentence(c, last.messages[i]), challengeTip(c)])])
    : [["", t("retry.generic")]];
  const seen = new Set();
  $("#retry-why").replaceChildren(...why.filter(([, x]) => !seen.has(x) && seen.add(x))
    .map(([c, x]) => el("li", { text: x, "data-code": c })));
  const notes = [];
  if (last.notCounted) notes.push(t("retry.notcounted"));
  if (a && Number(a.max) > 0) notes.push(t("retry.attempt", { n: Math.min(Number(a.used) + 1, Number(a.max)), max: a.max }));
  $("#retry-count").textContent = joinSentences(notes);
  $("#retry-count").dataset.used = a ? String(a.used) : "";
  $("#retry-count").dataset.max = a ? String(a.max) : "";
  $("#retry-hint").textContent = t("retry.hint");
}

// -- spoken prompts (where the browser has a voice for the page's language) --

function voiceFor(lang) {
  if (!window.speechSynthesis) return null;
  const want = lang === "zh-CN" ? "zh" : "en";
  const voices = window.speechSynthesis.getVoices();
  return voices.find((v) => v.lang && v.lang.toLowerCase().replace("_", "-") === lang.toLowerCase())
    || voices.find((v) => v.lang && v.lang.toLowerCase().startsWith(want)) || null;
}

function setupSpeech() {
  const box = $("#speak-wrap");
  const has_ = !!voiceFor(currentLang());
  box.hidden = !has_;
  const saved = localStorage.getItem("idmatch.speak");
  $("#speak").checked = has_ && saved !== "off";
}

function speak(text) {
  if (!text || !$("#speak").checked || $("#speak-wrap").hidden) return;
  const v = voiceFor(currentLang());
  if (!v) return;
  try {
    window.speechSynthesis.cancel();
    const u = new SpeechSynthesisUtterance(text);
    u.voice = v;
    u.lang = v.lang;
    u.rate = 1.05;
    window.speechSynthesis.speak(u);
  } catch { /* speech is a help, never a requirement */ }
}

// ---- 4. decision -------------------------------------------------------------------------------

function showResult() {
  const s = state.session;
  const status = s.decision && ["approved", "rejected", "review"].includes(s.decision) ? s.decision : s.status;
  const box = $("#decision");
  box.className = `decision decision-${status}`;
  box.dataset.status = status;
  box.textContent = has(`result.${status}`) ? t(`result.${status}`) : status;
  $("#decision-help").textContent = has(`result.${status}.help`) ? t(`result.${status}.help`) : "";
  const reasons = s.reasons || [];
  const notable = reasons.filter((r) => r.outcome === "fail" || r.outcome === "review");
  if (has(`result.next.${status}`)) $("#decision-help").textContent = joinSentences([$("#decision-help").textContent, t(`result.next.${status}`)]);
  const holder = $("#reasons");
  holder.replaceChildren(renderReasons(reasons, { onlyNotable: status !== "approved" && notable.length > 0 }));
  if (!holder.querySelector("li")) holder.textContent = t("result.noreasons");
  $("#session-ref").textContent = s.id;
  renderFaces();
  goto("result");
}

/** The ID portrait (the face the server cut from it) beside the capture's frontal frame. Both come from this
 *  page's memory: nothing is fetched back from the server. */
async function renderFaces() {
  const idFig = $("#face-id"), liveFig = $("#face-live");
  const blob = state.portraitBlob;
  idFig.hidden = !blob;
  liveFig.hidden = !state.bestFrame;
  $("#faces").hidden = !blob && !state.bestFrame;
  const pf = state.portraitFace;
  $("#face-id-cap").textContent = t(pf ? "result.face.id.cut" : "result.face.id");
  $("#face-id-img").alt = $("#face-id-cap").textContent;
  $("#face-live-cap").textContent = t("result.face.live");
  $("#face-live-img").alt = t("result.face.live");
  if (state.bestFrame) setImg($("#face-live-img"), state.bestFrame);
  if (blob) {
    let shown = blob;
    if (pf && Array.isArray(pf.box)) {
      try { shown = (await cutFace(blob, pf)) || blob; } catch { shown = blob; }
    }
    $("#face-id").dataset.cut = shown === blob ? "no" : "yes";
    setImg($("#face-id-img"), shown);
  }
}

function setImg(img, blob) {
  if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(blob);
}

/** Crop the face the server found (its box is in the server's upright, possibly turned and reduced image). */
async function cutFace(blob, pf) {
  const bmp = await createImageBitmap(blob);
  const rot = ((Number(pf.rotation) || 0) % 360 + 360) % 360;
  const turned = rot === 90 || rot === 270;
  const W = turned ? bmp.height : bmp.width, H = turned ? bmp.width : bmp.height;
  const up = document.createElement("canvas");
  up.width = W; up.height = H;
  const g = up.getContext("2d");
  g.translate(W / 2, H / 2);
  g.rotate((rot * Math.PI) / 180);
  g.drawImage(bmp, -bmp.width / 2, -bmp.height / 2);
  const [iw, ih] = Array.isArray(pf.image_size) ? pf.image_size : [W, H];
  const sx = W / iw, sy = H / ih;
  let [x, y, w, h] = pf.box.map(Number);
  const m = 0.35;                                   // a margin round the box: hair and chin, as on the card
  x -= w * m; y -= h * m; w *= 1 + 2 * m; h *= 1 + 2 * m;
  x = Math.max(0, x * sx); y = Math.max(0, y * sy);
  w = Math.min(W - x, w * sx); h = Math.min(H - y, h * sy);
  if (w < 8 || h < 8) return null;
  const out = document.createElement("canvas");
  const scale = Math.min(1, 320 / Math.max(w, h));
  out.width = Math.round(w * scale); out.height = Math.round(h * scale);
  out.getContext("2d").drawImage(up, x, y, w, h, 0, 0, out.width, out.height);
  return new Promise((res) => out.toBlob(res, "image/jpeg", 0.9));
}

/** The frame to show beside the portrait: the applicant looking ahead just before the first prompt
 *  (or the middle frame of a passive capture). Kept in this page's memory until the next registration. */
function keepBestFrame(out, sched) {
  if (!out.frames.length) return;
  const at = sched.prompts.length ? Math.max(0, sched.prompts[0] - 0.3) : sched.seconds / 2;
  let k = 0;
  out.times.forEach((x, i) => { if (Math.abs(x - at) < Math.abs(out.times[k] - at)) k = i; });
  state.bestFrame = out.frames[k];
}

function dropBestFrame() {
  state.bestFrame = null;
  for (const id of ["#face-id-img", "#face-live-img"]) {
    const img = $(id);
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    img.removeAttribute("src");
  }
}

// ---- back / cancel, reload --------------------------------------------------------------------

function setLiveNav(enabled) {
  for (const id of ["#live-back", "#live-cancel"]) $(id).disabled = !enabled;
}

/** Back from the portrait: the typed applicant stays in the form; going on again starts a new registration
 *  (the unfinished one expires by itself). */
function backToApplicant() {
  clearError();
  state.session = null;
  state.createIdem = null;
  goto("applicant");
}

/** Back from the live step: another portrait may be sent for the same registration (it replaces the first). */
function backToPortrait() {
  if (state.running || state.sending) return;
  clearError();
  state.capture = null;
  goto("portrait");
}

function cancelRegistration() {
  if (state.running || state.sending) return;
  reset();
  const note = $("#page-notice");
  note.textContent = t("nav.cancelled");
  note.hidden = false;
}

function rememberSession(id) {
  sessionStorage.setItem(IN_PROGRESS, id);
  let recent = [];
  try { recent = JSON.parse(sessionStorage.getItem(RECENT) || "[]"); } catch { recent = []; }
  recent = [id, ...recent.filter((x) => x !== id)].slice(0, 10);
  sessionStorage.setItem(RECENT, JSON.stringify(recent));
  renderRecent();
}

/** A reload in the middle of a registration: read it back from the server and continue where it stands. */
async function restore() {
  const id = sessionStorage.getItem(IN_PROGRESS);
  if (!id) return false;
  let s;
  try {
    s = await api.get(`/v1/sessions/${id}`);
  } catch (e) {
    sessionStorage.removeItem(IN_PROGRESS);
    if (e instanceof ApiFailure && e.status === 404) { goto("applicant"); showError(t("restore.gone", { why: t("lookup.notfound") })); return true; }
    return false;
  }
  state.session = s;
  if (s.status === "awaiting_portrait") { goto("portrait"); notice("restore.portrait"); return true; }
  if (s.status === "awaiting_live") { goto("live"); notice("restore.live"); startLive(); return true; }
  if (s.decision || ["approved", "rejected", "review"].includes(s.status)) { showResult(); return true; }
  sessionStorage.removeItem(IN_PROGRESS);
  state.session = null;
  goto("applicant");
  showError(t("restore.gone", { why: t("lookup.status.expired") }));
  return true;
}

function notice(key) {
  const n = $("#page-notice");
  n.textContent = t(key);
  n.hidden = false;
}

// ---- look up a reference --------------------------------------------------------------------------

function renderRecent() {
  let recent = [];
  try { recent = JSON.parse(sessionStorage.getItem(RECENT) || "[]"); } catch { recent = []; }
  $("#lookup-recent").hidden = !recent.length;
  $("#lookup-recent-list").replaceChildren(...recent.map((id) => el("li", {},
    el("button", { type: "button", class: "btn btn-quiet btn-ref", "data-ref": id, text: id,
      onclick: () => { $("#lookup-ref").value = id; lookup(); } }))));
}

async function lookup(ev) {
  ev && ev.preventDefault();
  clearError();
  const ref = $("#lookup-ref").value.trim().toLowerCase();
  const out = $("#lookup-result");
  state.lookup = null;
  out.replaceChildren();
  if (!ref) { showError("lookup.empty"); $("#lookup-ref").focus(); return; }
  if (!UUID_RE.test(ref)) { showError("lookup.bad"); $("#lookup-ref").focus(); return; }
  try {
    const s = await busy($("#lookup-go"), () => api.get(`/v1/sessions/${encodeURIComponent(ref)}`));
    state.lookup = s;
    renderLookup();
  } catch (e) {
    // another store's registration is not found either: the server answers 404 for both
    if (e instanceof ApiFailure && e.status === 404) {
      out.replaceChildren(el("p", { class: "lookup-line", "data-status": "not_found", text: t("lookup.notfound") }));
      return;
    }
    handleFailure(e, () => lookup());
  }
}

function renderLookup() {
  const s = state.lookup;
  const out = $("#lookup-result");
  if (!s) return;
  const lines = [];
  let status = s.status;
  let text;
  if (s.review && (s.review.outcome === "approved" || s.review.outcome === "rejected")) {
    status = `reviewed_${s.review.outcome}`;
    text = t(`lookup.reviewed.${s.review.outcome}`, { at: fmtTime(s.review.reviewed_at) });
  } else if (has(`lookup.status.${s.status}`)) {
    text = t(`lookup.status.${s.status}`, { at: fmtTime(s.decided_at), expires: fmtTime(s.expires_at) });
  } else {
    text = s.status;
  }
  const decided = status === "rejected" || status === "review" || status === "approved";
  lines.push(el("p", { class: `lookup-line lookup-${status}`, "data-status": status, text }));
  if (s.review && s.review.reason) lines.push(el("p", { class: "lookup-reason", text: t("lookup.reviewer_reason", { reason: s.review.reason }) }));
  if (decided && status !== "approved") {
    const notable = mergeReasons(s.reasons || []).filter((r) => r.outcome === "fail" || r.outcome === "review");
    if (notable.length) lines.push(el("ul", { class: "reasons" }, ...notable.map((r) => el("li", { "data-code": r.code, text: reasonText(r) }))));
  }
  const doc = has(`doctype.${s.document_type}`) ? t(`doctype.${s.document_type}`) : "";
  if (doc) lines.push(el("p", { class: "help", text: t("lookup.doctype", { doc }) }));
  lines.push(el("p", { class: "help" }, el("code", { class: "ref", text: s.id })));
  out.replaceChildren(...lines);
}

// ---- wiring --------------------------------------------------------------------------------------

function init() {
  applyI18n();
  setupLangToggle($("#lang"), () => {
    retranslate();
    if (state.session && state.session.decision && document.body.dataset.step === "result") showResult();
    renderLookup();
  });
  setupSpeech();
  if (window.speechSynthesis) window.speechSynthesis.addEventListener("voiceschanged", setupSpeech);
  $("#speak").addEventListener("change", (ev) => localStorage.setItem("idmatch.speak", ev.target.checked ? "on" : "off"));
  api.onSlow = (slow) => { $("#slow").hidden = !slow; };
  $("#applicant-form").addEventListener("submit", submitApplicant);
  $("#portrait-file").addEventListener("change", (ev) => {
    const f = ev.target.files && ev.target.files[0];
    clearError();                       // the old file's problem is not the new file's
    if (f) setPortrait(f);
  });
  $("#portrait-back").addEventListener("click", backToApplicant);
  $("#portrait-cancel").addEventListener("click", cancelRegistration);
  $("#live-back").addEventListener("click", backToPortrait);
  $("#live-cancel").addEventListener("click", cancelRegistration);
  $("#lookup-form").addEventListener("submit", lookup);
  // a reload or a closed tab mid-registration asks first (the registration itself is restored after a reload)
  window.addEventListener("beforeunload", (ev) => {
    const step = document.body.dataset.step;
    if (state.session && (step === "portrait" || step === "live")) {
      ev.preventDefault();
      ev.returnValue = t("nav.leave");
      return ev.returnValue;
    }
    return undefined;
  });
  $("#portrait-camera").addEventListener("click", openDocCamera);
  $("#portrait-snap").addEventListener("click", snapDocument);
  $("#portrait-send").addEventListener("click", sendPortrait);
  $("#live-camera").addEventListener("click", startLive);
  $("#live-begin").addEventListener("click", begin);
  $("#restart").addEventListener("click", reset);
  renderRecent();
  setupLogin(api, async () => { if (!(await restore())) goto("applicant"); });
}

init();
