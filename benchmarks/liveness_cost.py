"""Server CPU per active challenge, for the capture the terminal sends: 640x480 JPEG (q80) frames at
10 frames/s for as long as an issued challenge's prompt schedule lasts (``Challenge.issue`` draws
it: 3 steps, ``capture_s`` about 8-10 s, so 80-100 frames), cut from each real clip in
../shared/data/video (LivePortrait, SadTalker, face_recognition; framed like a webcam by
``benchmarks/attacks/clips.to_camera``), decoded and judged by ``check_challenge``. CPU seconds of
this process (``time.process_time``, OpenCV on one thread).

Configurations:
* ``before`` -- the first analysis: every frame detected at full size, embedded and PAD-scored
  (``ChallengeConfig(work_side=10_000, embed_every=1, pad_every=1)``);
* ``after`` -- the shipped config (frames decoded at the 320-px work size through JPEG DCT scaling,
  full size only for the embedded ones; every 8th frame and each turn's peak embedded; PAD on a subset).

Also reported: the same clips at the old benchmark's framing (clip frames up to 640 px, the clip's
length up to 15 s) for comparison with earlier figures.

Run:  nice .venv/bin/python benchmarks/liveness_cost.py      (writes reports/liveness_cost.json)
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from benchmarks.common import REPORTS, require_data  # noqa: E402


def _stats(v: list[float]) -> dict:
    return {"median_cpu_s": round(float(np.median(v)), 3), "p90_cpu_s": round(float(np.quantile(v, 0.9)), 3)}


def main() -> int:
    import cv2
    from tqdm import tqdm

    from benchmarks.attacks.clips import to_camera
    from idmatch.detect import choose_face, find_faces
    from idmatch.liveness import Challenge, ChallengeConfig, check_challenge
    from idmatch.liveness.passive import PassiveLiveness
    from idmatch.liveness.video import sample_frames
    from idmatch.pipeline import FaceEngine

    cv2.setNumThreads(1)
    d = require_data()
    clips = sorted((d / "video").glob("*/*.mp4"))
    clips = [c for c in clips if "pad" not in c.parts]
    eng = FaceEngine()
    pad = PassiveLiveness(engine=eng)
    configs = {"before": ChallengeConfig(work_side=10_000, embed_every=1, pad_every=1), "after": ChallengeConfig()}
    out: dict = {"fps": 10.0, "frame_size": [640, 480], "jpeg_quality": 80, "clips": {}}
    cpu: dict[str, list[float]] = {k: [] for k in [*configs, "after_clip_framing"]}
    rng = np.random.default_rng(20261203)
    for clip in tqdm(clips, desc="clips"):
        raw, _ = sample_frames(clip, 10.0, max_frames=150)
        found, _ = find_faces(raw[0], eng.detector, eng.config.detection)
        centre = None
        if found:
            f = choose_face(found, raw[0].shape, eng.config.detection)
            centre = (f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2)
        ch = Challenge.issue(rng=rng, now=0.0)
        n = min(len(raw), int(round(ch.capture_s * 10)))
        jpegs = [cv2.imencode(".jpg", to_camera(fr, centre), [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
                 for fr in raw[:n]]
        times = [i / 10.0 for i in range(n)]
        row = {"frames": n, "capture_s": round(ch.capture_s, 2)}
        for name, cfg in configs.items():
            t0 = time.process_time()
            check_challenge(eng, ch, jpegs, now=1.0, passive=pad, config=cfg, frame_times=times)
            row[f"cpu_s_{name}"] = round(time.process_time() - t0, 3)
            cpu[name].append(row[f"cpu_s_{name}"])
        # the old benchmark's framing: clip frames up to 640 px on the longer side, the clip up to 15 s
        old = []
        for fr in raw:
            s = 640.0 / max(fr.shape[:2])
            fr = cv2.resize(fr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else fr
            old.append(cv2.imencode(".jpg", fr, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
        ch_old = Challenge(nonce="cost", steps=["turn_left", "turn_right"], issued_at=0, expires_at=9e9,
                           prompt_at=[1.0, 3.5], capture_s=len(old) / 10.0)
        t0 = time.process_time()
        check_challenge(eng, ch_old, old, now=1.0, passive=pad, frame_times=[i / 10.0 for i in range(len(old))])
        row["cpu_s_after_clip_framing"] = round(time.process_time() - t0, 3)
        row["clip_framing_frames"] = len(old)
        cpu["after_clip_framing"].append(row["cpu_s_after_clip_framing"])
        out["clips"][f"{clip.parent.name}/{clip.stem}"] = row
    for name, v in cpu.items():
        out[name] = _stats(v)
    out["median_frames"] = int(np.median([r["frames"] for r in out["clips"].values()]))
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "liveness_cost.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in cpu}, indent=1), "median frames", out["median_frames"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
