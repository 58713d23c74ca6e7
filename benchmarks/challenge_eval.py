"""Active challenge on the real head-movement clips (LivePortrait driving videos, 5 frames/s).

For each clip: the movements idmatch's pose estimator reads (yaw/pitch extremes and the order of
turns), the passive PAD median, and -- the number that matters for a replay attack -- the share
of random challenges (length 3, as issued in production, 2,000 seeded draws) that the clip passes
without having been recorded for them. Plus a still frame repeated and a mid-sequence face swap,
and the cost per frame.

Run:  nice .venv/bin/python benchmarks/challenge_eval.py     (writes reports/challenge_eval.json)
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

from benchmarks.common import require_data  # noqa: E402


def main() -> int:
    from tqdm import tqdm

    from idmatch.liveness import Challenge, ChallengeConfig, analyze_frames, identity_threshold, judge
    from idmatch.liveness.challenge import count_sequences
    from idmatch.liveness.video import sample_frames
    from idmatch.pipeline import FaceEngine

    d = require_data()
    eng = FaceEngine()
    cfg = ChallengeConfig()
    thr = identity_threshold(eng, cfg)
    clips = sorted((d / "video" / "liveportrait").glob("*.mp4"))
    challenges = [Challenge.issue(rng=i, now=0.0) for i in range(2000)]
    out: dict = {"fps": 5.0, "identity_threshold": thr, "sequences_length3": count_sequences(3),
                 "entropy_bits_length3": round(float(np.log2(count_sequences(3))), 3), "clips": {}}
    total_frames, total_ms = 0, 0.0
    first_frames = {}
    for clip in tqdm(clips, desc="clips"):
        frames, _ = sample_frames(clip, 5.0, max_frames=cfg.max_frames)  # d6 (33 s) is cut at 30 s
        first_frames[clip.stem] = frames
        t0 = time.perf_counter()
        a = analyze_frames(eng, frames)
        total_ms += (time.perf_counter() - t0) * 1e3
        total_frames += len(frames)
        yaws = [r.pose.yaw for r in a.reports if r.pose]
        pitches = [r.pose.pitch for r in a.reports if r.pose]
        passed = [judge(c, a, thr, now=1.0).passed for c in challenges]
        out["clips"][clip.stem] = {
            "frames": len(frames), "frames_one_face": len(a.valid),
            "yaw_min": round(min(yaws), 1), "yaw_max": round(max(yaws), 1),
            "pitch_range": round(max(pitches) - min(pitches), 1),
            "pad_median": round(float(np.median([a.reports[i].pad_score for i in a.valid])), 4),
            "pad_pass": bool(np.median([a.reports[i].pad_score for i in a.valid]) >= a.pad_threshold),
            "min_similarity": round(min(a.reports[i].similarity for i in a.valid), 3),
            "random_challenges_passed": round(float(np.mean(passed)), 4),
        }
    out["ms_per_frame"] = round(total_ms / max(total_frames, 1), 1)
    # still frame and face swap on every clip
    names = sorted(first_frames)
    static_fail, swap_fail = 0, 0
    for k, n in enumerate(names):
        st = analyze_frames(eng, [first_frames[n][0]] * 10, use_passive=False)
        r = judge(Challenge(nonce="s", steps=["turn_left", "turn_right"], issued_at=0, expires_at=9e9), st, thr, now=1)
        static_fail += int("static_sequence" in r.reasons and not r.passed)
        other = names[(k + 1) % len(names)]
        sw = analyze_frames(eng, first_frames[n][:8] + first_frames[other][:8], use_passive=False)
        r = judge(Challenge(nonce="w", steps=["turn_left"], issued_at=0, expires_at=9e9), sw, thr, now=1)
        swap_fail += int("identity_changed" in r.reasons)
    out["static_detected"] = f"{static_fail}/{len(names)}"
    out["swap_detected"] = f"{swap_fail}/{len(names)}"
    (REPO / "reports").mkdir(exist_ok=True)
    (REPO / "reports" / "challenge_eval.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
