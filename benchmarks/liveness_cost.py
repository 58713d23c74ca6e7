"""Server CPU per active challenge: the whole capture a terminal sends (10 frames/s, 640-px JPEG
frames, the clip's length up to the 15 s cap) decoded and judged by ``check_challenge``, in CPU
seconds of this process (``time.process_time``, OpenCV on one thread), over the real clips in
../shared/data/video (LivePortrait, SadTalker, face_recognition).

"before" is the earlier analysis: every frame detected at the full 640-px size and every frame
embedded (``ChallengeConfig(work_side=10_000, embed_every=1)``); "after" the shipped config
(320-px work size; every 8th frame and each turn's peak embedded; PAD on a subset).

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


def main() -> int:
    import cv2
    from tqdm import tqdm

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
    out: dict = {"clips": {}, "fps": 10.0}
    cpu = {k: [] for k in configs}
    for clip in tqdm(clips, desc="clips"):
        frames, times = sample_frames(clip, 10.0, max_frames=150)
        jpegs = []
        for f in frames:
            s = 640.0 / max(f.shape[:2])
            f = cv2.resize(f, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else f
            jpegs.append(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
        ch = Challenge(nonce="cost", steps=["turn_left", "turn_right"], issued_at=0, expires_at=9e9,
                       prompt_at=[1.0, 3.5], capture_s=times[-1])
        row = {"frames": len(jpegs)}
        for name, cfg in configs.items():
            t0 = time.process_time()
            check_challenge(eng, ch, jpegs, now=1.0, passive=pad, config=cfg, frame_times=times)
            row[f"cpu_s_{name}"] = round(time.process_time() - t0, 3)
            cpu[name].append(row[f"cpu_s_{name}"])
        out["clips"][f"{clip.parent.name}/{clip.stem}"] = row
    for name, v in cpu.items():
        out[name] = {"median_cpu_s": round(float(np.median(v)), 3), "p90_cpu_s": round(float(np.quantile(v, 0.9)), 3),
                     "median_frames": int(np.median([r["frames"] for r in out["clips"].values()]))}
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "liveness_cost.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in configs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
