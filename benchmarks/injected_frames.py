"""Do injected frames (no sensor ever saw them) carry less noise than a real capture? Issue 12 item 3.

Every capture is what the terminal sends: 640x480 frames, JPEG q80 (encoded once), 10 frames/s.

* ``bona_fide`` -- every real clip in ../shared/data/video (LivePortrait driving clips, SadTalker
  refs, the face_recognition clip: real people), framed by ``benchmarks/attacks/clips.to_camera``,
  the first ``BONA_FIDE_FRAMES`` frames;
* ``print_planar`` / ``replay_screen`` -- the rendered physical attacks (``benchmarks/attacks``
  sheets, which add camera noise in ``render.camera``), turning left then right (sheet yaw 40°,
  no calibration: the noise does not depend on how far the sheet turns);
* ``injected_warp`` / ``injected_denoised`` / ``injected_bilateral`` -- ``benchmarks/attacks/injected``.

Per frame (full size, as decoded from the JPEG): Immerkær's sigma over the whole frame and over
its flat half (``benchmarks.sensor_noise``), the flat sigma in the frame's centre third (the face)
and outside it (background); at the analysis' 320-px work size (``FaceEngine.decode_work``, what
the liveness check holds for every frame for free) the flat sigma; between consecutive full-size
frames the temporal residual. A capture's value is the median over its frames (pairs). Also the
CPU of the work-size flat sigma over a whole capture (the cost a reason would add per challenge).
Last, each ``injected_warp`` capture is judged by the shipped check (``check_challenge`` against a
challenge with the capture's own prompt schedule), to show which existing reasons already stop it.

Run:  PYTHONPATH=src nice .venv/bin/python benchmarks/injected_frames.py
      (writes reports/injected_frames.json, .md and .png)
"""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from benchmarks.common import REPORTS, require_data  # noqa: E402

log = logging.getLogger("injected_frames")

BONA_FIDE_FRAMES = 80
NLM_FRAMES = 20          # non-local means costs ~0.5 s a frame on this machine: the first 20 of each clip
N_LFW, N_CASIA = 4, 2
SEED = 20261203
STATS = ("imm_full", "imm_flat_full", "imm_flat_face", "imm_flat_background", "imm_flat_work", "temporal")


def frame_stats(jpegs: list[bytes], engine) -> dict[str, float]:
    """Median over the capture's frames of each statistic (see the module docstring)."""
    from benchmarks.sensor_noise import immerkaer_sigma, temporal_residual

    per: dict[str, list[float]] = {k: [] for k in STATS}
    prev = None
    for b in jpegs:
        img = cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)
        g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        h, w = g.shape
        per["imm_full"].append(immerkaer_sigma(g))
        per["imm_flat_full"].append(immerkaer_sigma(g, flat=True))
        face = g[h // 3:2 * h // 3, w // 3:2 * w // 3]
        per["imm_flat_face"].append(immerkaer_sigma(face, flat=True))
        per["imm_flat_background"].append(_flat_ring(g))
        work, _ = engine.decode_work(b, 320)
        per["imm_flat_work"].append(immerkaer_sigma(work, flat=True))
        if prev is not None:
            per["temporal"].append(temporal_residual(prev, g))
        prev = g
    return {k: float(np.nanmedian(v)) for k, v in per.items() if v}


def _flat_ring(g: np.ndarray) -> float:
    """Flat sigma of the frame outside the centre third (the background around the head)."""
    from benchmarks.sensor_noise import immerkaer_sigma

    h, w = g.shape
    parts = [g[:h // 3], g[2 * h // 3:], g[h // 3:2 * h // 3, :w // 3], g[h // 3:2 * h // 3, 2 * w // 3:]]
    vals = [immerkaer_sigma(p, flat=True) for p in parts]
    sizes = [p.size for p in parts]
    return float(np.average(vals, weights=sizes))


def work_cost_ms(jpegs: list[bytes], engine) -> float:
    """CPU (ms) of the work-size flat sigma over every frame of a capture, given the decoded work
    frames (the check decodes them anyway)."""
    from benchmarks.sensor_noise import immerkaer_sigma

    works = [cv2.cvtColor(engine.decode_work(b, 320)[0], cv2.COLOR_BGR2GRAY) for b in jpegs]
    t0 = time.process_time()
    for g in works:
        immerkaer_sigma(g, flat=True)
    return (time.process_time() - t0) * 1e3


def _jpeg(img: np.ndarray) -> bytes:
    from benchmarks.attacks.render import JPEG_Q

    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_Q])[1].tobytes()


def bona_fide_raw(engine, data: Path) -> dict[str, list[np.ndarray]]:
    """Each real clip framed like the terminal's camera, before the JPEG."""
    from benchmarks.attacks.clips import camera_frames, clip_paths

    return {f"{p.parent.name}/{p.stem}": camera_frames(p, engine, max_frames=BONA_FIDE_FRAMES, encode=False)
            for p in clip_paths(data)}


def sheet_capture(subject, medium: str, rng: np.random.Generator) -> list[np.ndarray]:
    """A hand-held print or tablet turned left then right, through ``render.camera`` (before the JPEG)."""
    from benchmarks.attacks.render import SheetPose, camera, composite, render_sheet
    from benchmarks.attacks.schedule import cue, make_schedule, plan_moves
    from benchmarks.attacks.sheet import SheetPerformer, Target, make_sheet, sheet_scene

    bg, shake = sheet_scene(rng)
    sheet = make_sheet(subject.frontal, rng, medium=medium, surface="plane")
    perf = SheetPerformer(medium, [sheet], SheetPose(tilt=10.0, z=450.0), rng, bg, shake,
                          targets={"turn_left": Target({"yaw": 40.0}), "turn_right": Target({"yaw": -40.0})})
    sched = make_schedule(["turn_left", "turn_right"], rng)
    moves = plan_moves(sched, rng)
    frames = []
    for t in sched.times:
        p, page = perf.pose(*cue(moves, t), t)
        layer, alpha = render_sheet(perf.sheets[page], p)
        frames.append(camera(composite(perf.background, layer, alpha), rng, quality=None))
    return frames


def judge_warps(engine, captures: dict[str, list[bytes]], schedules: dict) -> dict:
    """The shipped check's verdict on each injected-warp capture (reasons), for context."""
    from idmatch.liveness import Challenge, check_challenge
    from idmatch.liveness.passive import PassiveLiveness

    pad = PassiveLiveness(engine=engine)
    out = {}
    for key, jpegs in captures.items():
        sc = schedules[key]
        ch = Challenge(nonce=key, steps=list(sc.steps), issued_at=0.0, expires_at=9e9,
                       prompt_at=list(sc.prompt_at), capture_s=sc.capture_s)
        res = check_challenge(engine, ch, jpegs, now=1.0, passive=pad, frame_times=sc.times)
        out[key] = {"passed": res.passed, "reasons": res.reasons}
        log.info("judged %s: %s", key, res.reasons or "passed")
    return out


def summary(values: list[float]) -> dict:
    v = np.asarray(values, np.float64)
    return {"n": int(v.size), "min": round(float(v.min()), 3), "p10": round(float(np.quantile(v, 0.1)), 3),
            "median": round(float(np.median(v)), 3), "max": round(float(v.max()), 3)}


def main() -> int:
    from benchmarks.attacks.injected import denoise_bilateral, denoise_nlm, warp_capture
    from benchmarks.attacks.schedule import make_schedule
    from benchmarks.attacks.subjects import load_subjects
    from idmatch.pipeline import FaceEngine

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cv2.setNumThreads(1)
    data = require_data()
    eng = FaceEngine()
    rng = np.random.default_rng(SEED)
    schedules: dict[str, object] = {}
    captures: dict[str, dict[str, list[bytes]]] = {k: {} for k in
                                                    ("bona_fide", "print_planar", "replay_screen", "injected_warp",
                                                     "injected_denoised", "injected_bilateral")}
    for name, frames in bona_fide_raw(eng, data).items():
        log.info("clip %s: %d frames", name, len(frames))
        captures["bona_fide"][name] = [_jpeg(f) for f in frames]
        captures["injected_bilateral"][name] = [_jpeg(denoise_bilateral(f)) for f in frames]
        captures["injected_denoised"][name] = [_jpeg(denoise_nlm(f)) for f in frames[:NLM_FRAMES]]
    subjects = load_subjects(eng, data, n_lfw=N_LFW, n_casia=N_CASIA)
    for s in subjects:
        log.info("subject %s", s.name)
        for medium, species in (("print", "print_planar"), ("screen", "replay_screen")):
            captures[species][s.name] = [_jpeg(f) for f in sheet_capture(s, medium, rng)]
        for steps in (("turn_left", "turn_right"), ("look_up", "turn_right")):
            sched = make_schedule(list(steps), rng)
            key = f"{s.name}/{'+'.join(steps)}"
            captures["injected_warp"][key] = [_jpeg(f) for f in warp_capture(s.frontal, sched, rng)]
            schedules[key] = sched
    out: dict = {"frame": [640, 480], "jpeg_quality": 80, "fps": 10.0, "statistics": list(STATS), "species": {}}
    for species, caps in captures.items():
        rows = {name: {k: round(v, 4) for k, v in frame_stats(j, eng).items()} | {"frames": len(j)}
                for name, j in caps.items()}
        out["species"][species] = {"captures": rows,
                                   "summary": {k: summary([r[k] for r in rows.values()]) for k in STATS}}
        log.info("%s: %s", species, {k: out["species"][species]["summary"][k]["median"] for k in STATS})
    costs = [work_cost_ms(j, eng) for j in captures["bona_fide"].values()]
    out["cost_ms_per_capture_work_flat"] = summary(costs)
    out["cost_frames_per_capture"] = BONA_FIDE_FRAMES
    bf = out["species"]["bona_fide"]["summary"]
    out["separation"] = {
        k: {"bona_fide_min": bf[k]["min"],
            **{sp: {"max": out["species"][sp]["summary"][k]["max"],
                    "below_bona_fide_min": int(sum(r[k] < bf[k]["min"] for r in out["species"][sp]["captures"].values())),
                    "captures": out["species"][sp]["summary"][k]["n"]}
               for sp in out["species"] if sp.startswith("injected")}}
        for k in STATS}
    out["injected_warp_judged"] = judge_warps(eng, captures["injected_warp"], schedules)
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "injected_frames.json").write_text(json.dumps(out, indent=1))
    (REPORTS / "injected_frames.md").write_text(markdown(out))
    plot(out, REPORTS / "injected_frames.png")
    return 0


def markdown(out: dict) -> str:
    lines = ["# Sensor noise of bona fide, physical-attack and injected captures",
             "", "640x480 JPEG q80, 10 fps; per capture the median over its frames; min / median / max over captures "
             "(grey levels, 0-255). Written by `benchmarks/injected_frames.py`.", "",
             "| species | captures | " + " | ".join(STATS) + " |", "|---|---|" + "---|" * len(STATS)]
    for sp, d in out["species"].items():
        s = d["summary"]
        lines.append(f"| {sp} | {s[STATS[0]]['n']} | " +
                     " | ".join(f"{s[k]['min']:.2f} / {s[k]['median']:.2f} / {s[k]['max']:.2f}" for k in STATS) + " |")
    lines += ["", "Injected captures below the lowest bona fide capture (a threshold at the bona fide minimum, "
              "no margin):", "", "| statistic | bona fide min | " +
              " | ".join(sp for sp in out["species"] if sp.startswith("injected")) + " |",
              "|---|---|" + "---|" * sum(sp.startswith("injected") for sp in out["species"])]
    for k, d in out["separation"].items():
        lines.append(f"| {k} | {d['bona_fide_min']:.2f} | " + " | ".join(
            f"{v['below_bona_fide_min']}/{v['captures']} (max {v['max']:.2f})" for sp, v in d.items() if sp != "bona_fide_min") + " |")
    j = out.get("injected_warp_judged", {})
    if j:
        reasons: dict[str, int] = {}
        for r in j.values():
            for code in r["reasons"]:
                reasons[code] = reasons.get(code, 0) + 1
        lines += ["", f"The shipped check on the {len(j)} injected-warp captures: {sum(r['passed'] for r in j.values())} "
                  "passed; reasons: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) + "."]
    c = out["cost_ms_per_capture_work_flat"]
    lines += ["", f"CPU of the work-size flat sigma over an {out['cost_frames_per_capture']}-frame capture: "
              f"median {c['median']:.1f} ms, max {c['max']:.1f} ms.", ""]
    return "\n".join(lines)


def plot(out: dict, path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("matplotlib not installed: no histogram")
        return
    keys = ("imm_flat_full", "imm_flat_work", "temporal")
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6))
    for ax, k in zip(axes, keys):
        every = [r[k] for d in out["species"].values() for r in d["captures"].values()]
        bins = np.histogram_bin_edges(every, bins=24)   # shared by all species, so the bars line up
        for sp, d in out["species"].items():
            v = [r[k] for r in d["captures"].values()]
            ax.hist(v, bins=bins, alpha=0.5, label=sp)
        ax.set_title(k)
        ax.set_xlabel("grey levels (per-capture median)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
