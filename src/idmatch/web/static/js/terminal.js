// Store terminal: sign in → applicant + consent → ID portrait → live capture (guidance, challenge) → decision.

import { t, has, applyI18n, setupLangToggle } from "./i18n.js";
import { Api, ApiFailure, $, busy, showError, clearError, setupLogin, newIdempotencyKey, shortId } from "./api.js";
import { CameraError, startCamera, stopCamera, grabFrame, sleep } from "./camera.js";
import { renderReasons } from "./reasons.js";

const CONSENT_VERSION = "idmatch-web-consent-1";
const GUIDANCE_EVERY_MS = 1000;     // one frame a second to the stateless quality endpoint
const STEP_POLL_MS = 350;           // during a challenge step, how often a frame's pose is checked
const STEP_TIMEOUT_MS = 6000;       // per step, twice (a reminder in between), then submit what we have
const TIMED_STEP_MS = 1800;         // without the pose endpoint: wait this long after each prompt
const BASELINE_FRAMES = 3;          // frontal frames first: the server takes their median pose as the start
const BASELINE_TIMEOUT_MS = 15000;  // how long to wait for them (pose answers can be slow on a busy server)
const MAX_FRAMES = 8;               // the service's default limit per live capture
// movement thresholds relative to the start pose: the liveness check's (15°, 10°, ×1.2) plus a 10 % margin,
// so a frame that moves the prompts on also counts on the server (which alone decides)
const TURN_DEG = 16.5, NOD_DEG = 11, CLOSER_RATIO = 1.25;

const api = new Api("clerk");
const state = {
  session: null,          // SessionOut from the server
  createIdem: null,       // Idempotency-Key of the pending "create session" request
  portraitBlob: null,
  live: null,             // {frames: Blob[], idem} waiting to be (re)submitted
  guidanceTimer: null,
  guidanceBusy: false,
  running: false,         // a challenge is in progress
  poseEndpoint: true,     // false once /v1/frame-check answered 404 (older server)
  qualityEndpoint: true,  // false once /v1/quality answered 501 (no quality hook in the server)
  trace: [],              // poses seen during the last capture (diagnostics, see trace())
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
  if (step !== "live") stopLive();
  if (step !== "portrait") stopCamera($("#doc-video"));
  $(`#step-${step} h2`).focus();
}

function reset() {
  state.session = null;
  state.createIdem = null;
  state.portraitBlob = null;
  state.live = null;
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

async function sendPortrait() {
  clearError();
  if (!state.portraitBlob) { showError("portrait.none"); $("#portrait-file").focus(); return; }
  const fd = new FormData();
  fd.append("image", state.portraitBlob, state.portraitBlob.name || "portrait.jpg");
  try {
    // PUT is idempotent on the server (the same image again returns the same state)
    const issued = state.session.challenge;      // the challenge is fixed when the session is created
    state.session = await busy([$("#portrait-send"), $("#portrait-camera")], () =>
      api.put(`/v1/sessions/${state.session.id}/portrait`, fd));
    state.session.challenge = issued;
    goto("live");
    startLive();
  } catch (e) {
    handleFailure(e, () => sendPortrait());
  }
}

// ---- 3. live capture -----------------------------------------------------------------------------

const video = () => $("#live-video");

function setPrompt(text) { $("#prompt").textContent = text; }
function setGuidance(text, kind = "") {
  const g = $("#guidance");
  if (g.textContent !== text) g.textContent = text;
  g.dataset.kind = kind;
}
function setProgress(done, total, label) {
  const p = $("#progress");
  p.hidden = total === 0;
  p.max = Math.max(1, total);
  p.value = done;
  $("#progress-label").textContent = label || "";
}

async function startLive() {
  clearError();
  setPrompt("");
  setProgress(0, 0, "");
  $("#live-begin").disabled = true;
  try {
    await busy($("#live-camera"), () => startCamera(video(), "user"));
  } catch (e) {
    $("#live-camera").hidden = false;
    showError(e instanceof CameraError ? e.i18nKey : e, startLive);
    return;
  }
  $("#live-camera").hidden = true;
  $("#live-begin").disabled = false;
  setGuidance(t("live.guidance.wait"));
  startGuidance();
  $("#live-begin").focus();
}

function stopLive() {
  stopGuidance();
  state.running = false;
  stopCamera(video());
  $("#live-camera").hidden = false;
}

function startGuidance() {
  stopGuidance();
  state.guidanceTimer = setInterval(guidanceTick, GUIDANCE_EVERY_MS);
}

function stopGuidance() {
  if (state.guidanceTimer) clearInterval(state.guidanceTimer);
  state.guidanceTimer = null;
}

/** One frame to the stateless quality endpoint; show what to fix, in the applicant's language. */
async function guidanceTick() {
  if (state.guidanceBusy || state.running) return;
  state.guidanceBusy = true;
  try {
    const blob = await grabFrame(video(), { maxSide: 640, quality: 0.85 });
    if (!blob) return;
    const fd = new FormData();
    fd.append("image", blob, "frame.jpg");
    let q;
    if (state.qualityEndpoint) {
      try {
        q = await api.post("/v1/quality?role=live", fd, { timeoutMs: 8000 });
      } catch (e) {
        // no quality hook in this server build: the terminal's own frame check runs the same measures
        if (!(e instanceof ApiFailure && (e.status === 501 || e.status === 404))) throw e;
        state.qualityEndpoint = false;
      }
    }
    if (!state.qualityEndpoint) {
      const r = await api.post("/v1/frame-check?quality=true", fd, { timeoutMs: 8000 });
      q = r && r.quality;
      if (!q) { stopGuidance(); setGuidance(""); return; }     // no quality module at all: no guidance
    }
    if (state.running) return;
    showQuality(q);
  } catch (e) {
    if (state.running) return;
    if (e instanceof ApiFailure && e.code === "no_face") setGuidance(t("q.no_face"), "no_face");
    else if (e instanceof ApiFailure && e.code === "multiple_faces") setGuidance(t("q.multiple_faces"), "multiple_faces");
    else if (e instanceof ApiFailure && (e.kind === "timeout" || e.kind === "offline")) setGuidance(t("live.slow"), "slow");
  } finally {
    state.guidanceBusy = false;
  }
}

// When several checks fail, say first what fixes most: a dark image is also "blurry", a far one "low resolution".
const ADVICE_ORDER = ["no_face", "multiple_faces", "too_dark", "too_bright", "face_too_small", "face_cut_off",
  "image_rotated", "face_covered", "eyes_not_visible", "head_pose", "head_tilted", "uneven_light", "blurry",
  "low_resolution", "compression", "quality_too_low"];

function showQuality(q) {
  const codes = (q && q.codes) || [];
  if (!codes.length && q && q.passed !== false) { setGuidance(t("live.guidance.ok"), "ok"); return; }
  const rank = (c) => { const i = ADVICE_ORDER.indexOf(c); return i < 0 ? ADVICE_ORDER.length : i; };
  const c = [...codes].sort((a, b) => rank(a) - rank(b))[0] || "quality_too_low";
  const fb = q && q.feedback && q.feedback[0] && q.feedback[0].message;
  setGuidance(has(`q.${c}`) ? t(`q.${c}`) : (fb || c), c);
}

/** Head pose of the current frame from the server, or null (no face / endpoint missing). */
async function framePose() {
  const blob = await grabFrame(video(), { maxSide: 1280, quality: 0.92 });
  if (!blob) return { blob: null, pose: null };
  if (!state.poseEndpoint) return { blob, pose: null };
  const fd = new FormData();
  fd.append("image", blob, "frame.jpg");
  try {
    const r = await api.post("/v1/frame-check", fd, { timeoutMs: 8000 });
    return { blob, pose: r && r.pose ? r.pose : null, quality: r && r.quality };
  } catch (e) {
    if (e instanceof ApiFailure && (e.status === 404 || e.status === 405)) state.poseEndpoint = false;
    if (e instanceof ApiFailure && (e.kind === "unauthorized" || e.kind === "server")) throw e;
    return { blob, pose: null };
  }
}

/** What the capture saw, step by step (poses only, no images): read by the browser tests on failure. */
function trace(step, pose, met) {
  state.trace.push({ step, met, pose: pose ? { yaw: pose.yaw, pitch: pose.pitch, size: pose.size } : null,
    t: Math.round(performance.now()) });
}

function actionName(a) { return typeof a === "string" ? a : (a && (a.action || a.type || a.name)) || String(a); }

function movementMet(action, pose, base) {
  if (!pose || !base) return false;
  const dyaw = pose.yaw - base.yaw, dpitch = pose.pitch - base.pitch;
  switch (action) {
    case "turn_left": return dyaw >= TURN_DEG;      // yaw > 0: the subject's left (unmirrored frame)
    case "turn_right": return dyaw <= -TURN_DEG;
    case "look_up": return dpitch >= NOD_DEG;
    case "look_down": return dpitch <= -NOD_DEG;
    case "move_closer": return pose.size >= base.size * CLOSER_RATIO;
    default: return false;
  }
}

function median(xs) {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function frontal(pose) { return pose && Math.abs(pose.yaw) < 12 && Math.abs(pose.pitch) < 20; }

/** Wait until ``test(pose)`` holds (polling frames), or ``ms`` pass. Returns the matching frame. */
async function waitFor(test, ms) {
  const until = performance.now() + ms;
  let last = null;
  while (performance.now() < until && state.running) {
    const t0 = performance.now();
    const r = await framePose();
    if (r.blob) last = r;
    if (r.pose && test(r.pose)) return { ...r, met: true };
    if (!state.poseEndpoint) break;
    await sleep(Math.max(0, STEP_POLL_MS - (performance.now() - t0)));
  }
  return { ...(last || { blob: null, pose: null }), met: false };
}

async function runChallenge() {
  if (state.running) return;
  clearError();
  if (state.live) { submitLive(); return; }   // a capture is waiting for a retry: send it again, unchanged
  state.running = true;
  state.trace = [];
  window.idmatchCaptureTrace = state.trace;
  stopGuidance();
  setGuidance("");
  $("#live-begin").disabled = true;
  const ch = (state.session && state.session.challenge) || { mode: "passive", actions: [] };
  const actions = (ch.mode === "active" ? ch.actions || [] : []).map(actionName);
  const total = actions.length + 1;
  const frames = [];
  try {
    // start: frontal frames, whose median pose is the reference for the movements (as the server's check does)
    setPrompt(t("action.center"));
    setProgress(0, total, t("live.step", { n: 1, total }));
    const startFrames = [];
    const until = performance.now() + BASELINE_TIMEOUT_MS;
    let last = null;
    while (startFrames.length < BASELINE_FRAMES && state.running && performance.now() < until) {
      const r = await waitFor(frontal, Math.max(STEP_POLL_MS, until - performance.now()));
      if (r.blob) last = r;
      if (r.met) { startFrames.push(r); trace("start", r.pose, true); await sleep(STEP_POLL_MS); }
      else if (!state.poseEndpoint) break;
    }
    if (startFrames.length && startFrames.length < BASELINE_FRAMES) {
      // a slow server: fewer frontal frames than hoped; reuse the ones we have rather than unknown poses
      while (startFrames.length < BASELINE_FRAMES) startFrames.push(startFrames[startFrames.length - 1]);
    }
    const noPose = !startFrames.length;
    while (noPose && last && startFrames.length < BASELINE_FRAMES) {   // no pose service: frames as they come
      await sleep(STEP_POLL_MS);
      const b = await grabFrame(video());
      startFrames.push({ blob: b || last.blob, pose: null });
      trace("start", null, false);
    }
    if (!startFrames.length) throw new CameraError("no_camera");
    for (const r of startFrames) frames.push(r.blob);
    const poses = startFrames.map((r) => r.pose).filter(Boolean);
    const base = poses.length ? { yaw: median(poses.map((p) => p.yaw)), pitch: median(poses.map((p) => p.pitch)),
      size: median(poses.map((p) => p.size)) } : null;
    let missed = false;
    for (let i = 0; i < actions.length && state.running; i++) {
      const a = actions[i];
      setPrompt(has(`action.${a}`) ? t(`action.${a}`) : a);
      setProgress(i + 1, total, t("live.step", { n: i + 2, total }));
      if (!state.poseEndpoint || !base) {
        await sleep(TIMED_STEP_MS);
        const b = await grabFrame(video());
        if (b) frames.push(b);
        trace(a, null, false);
        continue;
      }
      let r = await waitFor((p) => movementMet(a, p, base), STEP_TIMEOUT_MS);
      if (!r.met) {
        setGuidance(t("live.notseen"), "notseen");
        r = await waitFor((p) => movementMet(a, p, base), STEP_TIMEOUT_MS);
      }
      trace(a, r.pose, r.met);
      if (r.blob) frames.push(r.blob);
      if (!r.met) { missed = true; break; }      // the server decides; no point in more prompts
      setGuidance("");
    }
    if (actions.length && !missed && state.running && frames.length < MAX_FRAMES) {   // frontal again: a good frame to match
      setPrompt(t("live.hold"));
      const end = await waitFor(frontal, STEP_TIMEOUT_MS);
      if (end.blob) frames.push(end.blob);
      trace("end", end.pose, end.met);
    }
    if (!state.running) return;
    setProgress(total, total, t("live.capturing"));
    state.live = { frames: frames.slice(0, MAX_FRAMES), idem: newIdempotencyKey() };
  } catch (e) {
    state.running = false;
    $("#live-begin").disabled = false;
    setPrompt("");
    handleFailure(e instanceof CameraError ? e.i18nKey : e, runChallenge);
    return;
  }
  state.running = false;
  await submitLive();
}

async function submitLive() {
  const pending = state.live;
  const fd = new FormData();
  pending.frames.forEach((b, i) => fd.append("frames", b, `frame${i}.jpg`));
  fd.append("nonce", state.session.challenge.nonce);
  setPrompt("");
  setGuidance(t("live.sending"), "sending");
  try {
    // the same Idempotency-Key on every retry of this capture: the server decides once
    state.session = await busy($("#live-begin"), () =>
      api.post(`/v1/sessions/${state.session.id}/live`, fd, { idem: pending.idem }));
    state.live = null;
    showResult();
  } catch (e) {
    setGuidance("");
    handleFailure(e, submitLive);
  }
}

// ---- 4. decision -------------------------------------------------------------------------------

function showResult() {
  const s = state.session;
  const status = s.status;
  const box = $("#decision");
  box.className = `decision decision-${status}`;
  box.dataset.status = status;
  box.textContent = has(`result.${status}`) ? t(`result.${status}`) : status;
  $("#decision-help").textContent = has(`result.${status}.help`) ? t(`result.${status}.help`) : "";
  const reasons = s.reasons || [];
  const notable = reasons.filter((r) => r.outcome === "fail" || r.outcome === "review");
  const holder = $("#reasons");
  holder.replaceChildren(renderReasons(reasons, { onlyNotable: status !== "approved" && notable.length > 0 }));
  if (!holder.querySelector("li")) holder.textContent = t("result.noreasons");
  $("#session-ref").textContent = shortId(s.id);
  $("#session-ref").title = s.id;
  goto("result");
}

// ---- wiring --------------------------------------------------------------------------------------

function init() {
  applyI18n();
  setupLangToggle($("#lang"), () => { if (state.session && state.session.decision) showResult(); });
  api.onSlow = (slow) => { $("#slow").hidden = !slow; };
  $("#applicant-form").addEventListener("submit", submitApplicant);
  $("#portrait-file").addEventListener("change", (ev) => {
    const f = ev.target.files && ev.target.files[0];
    if (f) setPortrait(f);
  });
  $("#portrait-camera").addEventListener("click", openDocCamera);
  $("#portrait-snap").addEventListener("click", snapDocument);
  $("#portrait-send").addEventListener("click", sendPortrait);
  $("#live-camera").addEventListener("click", startLive);
  $("#live-begin").addEventListener("click", runChallenge);
  $("#restart").addEventListener("click", reset);
  setupLogin(api, () => goto("applicant"));
}

init();
