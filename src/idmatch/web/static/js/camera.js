// getUserMedia with errors sorted into what the clerk can act on, and frame grabbing to JPEG.

export class CameraError extends Error {
  constructor(kind, cause) {
    super(kind);
    this.kind = kind;        // camera_denied | no_camera | camera_busy | camera_insecure
    this.cause = cause;
  }
  get i18nKey() { return `err.${this.kind}`; }
}

/** Open a camera into ``video``; ``facing``: "user" (applicant) or "environment" (document). */
export async function startCamera(video, facing = "user") {
  if (!window.isSecureContext) throw new CameraError("camera_insecure");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new CameraError("no_camera");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: { ideal: facing }, width: { ideal: 1280 }, height: { ideal: 720 } },
    });
  } catch (e) {
    const name = e && e.name;
    if (name === "NotAllowedError" || name === "SecurityError") throw new CameraError("camera_denied", e);
    if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") throw new CameraError("no_camera", e);
    if (name === "NotReadableError" || name === "AbortError" || name === "TrackStartError") throw new CameraError("camera_busy", e);
    throw new CameraError("no_camera", e);
  }
  video.srcObject = stream;
  video.muted = true;
  video.playsInline = true;
  await video.play().catch(() => {});
  if (!video.videoWidth) {
    await new Promise((res) => video.addEventListener("loadedmetadata", res, { once: true }));
  }
  return stream;
}

export function stopCamera(video) {
  const s = video && video.srcObject;
  if (s) for (const tr of s.getTracks()) tr.stop();
  if (video) video.srcObject = null;
}

/** The current frame as a JPEG Blob (unmirrored, as the camera sees it), at most ``maxSide`` px. */
export function grabFrame(video, { maxSide = 1280, quality = 0.92 } = {}) {
  const w = video.videoWidth, h = video.videoHeight;
  if (!w || !h) return Promise.resolve(null);
  const scale = Math.min(1, maxSide / Math.max(w, h));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(w * scale);
  canvas.height = Math.round(h * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((res) => canvas.toBlob(res, "image/jpeg", quality));
}

export const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

/**
 * Capture ``video`` continuously: ``fps`` frames a second for ``seconds`` (JPEG, ``maxSide`` px on the
 * longer side), each stamped with its capture time in seconds from the start (performance.now(), 3
 * decimals). Frames are taken on a fixed schedule from the start, not one after another, so a late
 * timer does not stretch the capture; a tick that is very late is taken at once, never skipped.
 * ``onTick(elapsed_s, {t0, index})`` runs once at the start (index -1, elapsed 0) and after each frame.
 * ``signal`` (AbortSignal) stops the capture early. Resolves with ``{frames: Blob[], times: number[]}``.
 */
export async function captureLoop(video, fps, seconds, onTick = () => {}, { maxSide = 480, quality = 0.85, signal = null } = {}) {
  const w = video.videoWidth, h = video.videoHeight;
  if (!w || !h) throw new CameraError("no_camera");
  const scale = Math.min(1, maxSide / Math.max(w, h));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(w * scale);
  canvas.height = Math.round(h * scale);
  const ctx = canvas.getContext("2d");
  const n = Math.max(1, Math.floor(seconds * fps) + 1);   // frames at 0, 1/fps, ... up to ``seconds``
  const pending = [], times = [];
  const t0 = performance.now();
  onTick(0, { t0, index: -1 });
  for (let i = 0; i < n; i++) {
    if (signal && signal.aborted) break;
    const wait = t0 + (i * 1000) / fps - performance.now();
    if (wait > 1) await sleep(wait);
    const at = performance.now();
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    // toBlob encodes a copy of the bitmap as it is now: the canvas can be drawn on again at once
    pending.push(new Promise((res) => canvas.toBlob(res, "image/jpeg", quality)));
    times.push(Math.round(at - t0) / 1000);
    onTick((at - t0) / 1000, { t0, index: i });
  }
  const frames = await Promise.all(pending);
  if (frames.some((b) => !b)) throw new CameraError("no_camera");
  return { frames, times };
}
