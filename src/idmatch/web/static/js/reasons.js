// Machine-readable decision reasons → short sentences in plain words (current language).

import { t, has, joinSentences } from "./i18n.js";
import { el } from "./api.js";

const ORDER = { fail: 0, review: 1, info: 2, pass: 3 };

const fmt = (x) => (typeof x === "number" ? x.toFixed(3) : String(x ?? ""));

/** One sentence for one reason. Unknown codes fall back to the server's own message. */
export function reasonText(r) {
  const d = r.details || {};
  const key = `reason.${r.code}`;
  let text;
  if (r.code === "lines_ok" || r.code === "line_limit_reached") {
    text = t(key, { n: d.active_lines ?? "?", limit: d.limit ?? "?" });
  } else if (r.code === "portrait_capture_class") {
    const c = d.capture_class;
    text = t(key, { cls: has(`cls.${c}`) ? t(`cls.${c}`) : String(c ?? "?") });
  } else if (has(key)) {
    text = t(key);
  } else {
    text = r.message || r.code.replace(/_/g, " ");
  }
  if (r.code === "quality_too_low" && Array.isArray(d.codes) && d.codes.length) {
    text = joinSentences([text, ...d.codes.map((c) => (has(`q.${c}`) ? t(`q.${c}`) : c))]);
  }
  if (r.stage === "liveness" && r.outcome === "fail" && Array.isArray(d.codes)) {   // what the challenge check found
    const found = d.codes.filter((c) => c !== r.code).map((c) => challengeSentence(c));
    if (found.length) text = joinSentences([text, ...found]);
  }
  return text;
}

/** The liveness check's reason codes for a failed attempt: each has a sentence ``ch.<code>`` in i18n.js that
 *  says in plain words what went wrong and what to do. Listed here so a test can check every one is worded. */
export const CHALLENGE_CODES = ["challenge_not_followed", "reaction_timing", "frame_timing", "frozen_frames", "no_depth",
  "frame_cut", "face_jump", "identity_changed", "spoof_suspected", "static_sequence", "too_few_frames", "no_face", "multiple_faces",
  "challenge_expired"];

/** One plain sentence for a failed attempt's code; an unknown code falls back to the server's message, never the code. */
export function challengeSentence(code, message = "") {
  if (has(`ch.${code}`)) return t(`ch.${code}`);
  return message || t("ch.unknown");
}

/** What to do about it on the next attempt ("" when there is no advice for the code). */
export function challengeTip(code) {
  return has(`tip.${code}`) ? t(`tip.${code}`) : "";
}

/** Numbers worth showing next to the sentence (score vs threshold), or "". */
export function reasonFigures(r) {
  const d = r.details || {};
  if (d.score !== undefined && d.threshold !== undefined) {
    const key = has(`score.labelled.${r.stage}`) ? `score.labelled.${r.stage}` : "score.labelled";
    return t(key, { score: fmt(d.score), thr: fmt(d.threshold) });
  }
  return "";
}

/** Merge per-frame duplicates (e.g. quality on every frame): one line per stage+code. */
export function mergeReasons(reasons) {
  const seen = new Map();
  for (const r of reasons || []) {
    const k = `${r.stage}|${r.code}`;
    if (!seen.has(k)) { seen.set(k, { ...r, details: { ...(r.details || {}) } }); continue; }
    const prev = seen.get(k);
    const codes = new Set([...(prev.details.codes || []), ...((r.details || {}).codes || [])]);
    if (codes.size) prev.details.codes = [...codes];
  }
  return [...seen.values()].sort((a, b) => (ORDER[a.outcome] ?? 9) - (ORDER[b.outcome] ?? 9));
}

/** A <ul> of reasons with an outcome marker each. ``onlyNotable`` keeps fail/review ones. */
export function renderReasons(reasons, { onlyNotable = false } = {}) {
  const list = mergeReasons(reasons).filter((r) => !onlyNotable || r.outcome === "fail" || r.outcome === "review");
  const ul = el("ul", { class: "reasons" });
  for (const r of list) {
    const fig = reasonFigures(r);
    ul.append(el("li", { class: `reason reason-${r.outcome}`, "data-code": r.code, "data-outcome": r.outcome },
      el("span", { class: "reason-mark", "aria-hidden": "true", text: { pass: "✓", fail: "✗", review: "?", info: "i" }[r.outcome] || "•" }),
      el("span", { class: "reason-text", text: reasonText(r) }),
      fig ? el("span", { class: "reason-fig", text: fig }) : null));
  }
  return ul;
}

/** "match 0.512 (threshold 0.301) · liveness …" for a queue row. */
export function scoreSummary(reasons) {
  const out = [];
  for (const r of mergeReasons(reasons)) {
    const d = r.details || {};
    if (d.score === undefined || d.threshold === undefined) continue;
    if (r.stage === "match") out.push(t("score.match", { score: fmt(d.score), thr: fmt(d.threshold) }));
    else if (r.stage === "liveness") out.push(t("score.liveness", { score: fmt(d.score), thr: fmt(d.threshold) }));
  }
  return out.join(" · ");
}
