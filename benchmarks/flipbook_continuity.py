"""Appearance continuity (``idmatch.liveness.continuity``): where the cut threshold comes from, and
what the flipbook pages' cuts measure.

1. Bona fide (sets ``ChallengeConfig.max_cut_change``): every consecutive pair of frames with a face
   in each real clip of ../shared/data/video, as the attack benchmark's camera sees it (640x480,
   10 frames/s, JPEG q80, observed by the library): the worst pair, and the threshold = worst x
   ``MARGIN``.
2. Attacks (measured once, after the threshold was fixed): each subject's ``print_flipbook`` and
   ``print_flipbook_stack`` performance as the attack benchmark builds it (same seeds); for every
   rendered action the largest pair change, and whether that action swaps pages (its target page is
   not the rest page). A page swap that stays under the threshold is a cut the check cannot see.
3. A second cue, measured and not adopted: the SFace similarity of the two frames of a pair (a swap
   shows another photo of the person). Bona fide: every consecutive pair's; attacks: the pair with
   the largest change in each swapping action. Reported as ``min_similarity`` / ``swap_similarity``.
4. The bar on data it was not set from (``held_out``): leaving out one clip, then one source
   (LivePortrait, SadTalker, face_recognition), the bar derived from the rest against the left-out worst pair.

Run (a few minutes on the shared 2 cores; writes reports/flipbook_continuity.json):
    nice .venv/bin/python benchmarks/flipbook_continuity.py
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from benchmarks.common import REPORTS, require_data  # noqa: E402

log = logging.getLogger("flipbook_continuity")
MARGIN = 1.5


def _similarity(env, pool, pair) -> float:
    from idmatch.match import cosine_score

    return float(cosine_score(pool.template(env.engine, pair.a), pool.template(env.engine, pair.b)))


def held_out_check(clips: dict, group) -> dict:
    """The bar measured on data it was not set from: for each group of clips (one clip, or one source), the
    threshold derived without it (``MARGIN`` x the other clips' worst pair) against the group's own worst
    pair. ``exceeded``: the groups whose real footage would have been cut by a bar set without them."""
    groups: dict[str, list[str]] = {}
    for k, v in clips.items():
        groups.setdefault(group(k, v), []).append(k)
    rows = {}
    for g, members in groups.items():
        others = [v["max"] for k, v in clips.items() if k not in members]
        bar = round(MARGIN * max(others), 1)
        rows[g] = {"bar_without": bar, "worst": max(clips[k]["max"] for k in members)}
    return {"groups": rows, "exceeded": sorted(g for g, r in rows.items() if r["worst"] > r["bar_without"]),
            "closest": min(rows, key=lambda g: rows[g]["bar_without"] - rows[g]["worst"])}


def bona_fide(env, data: Path) -> dict:
    from benchmarks.attacks.clips import clip_paths
    from benchmarks.liveness_attacks import cached_clip
    from idmatch.liveness.continuity import changes

    from benchmarks.attacks.clips import excursions

    clips = {}
    turn_pairs: list[float] = []
    for p in clip_paths(data):
        clip = cached_clip(p, env, 20.0)
        ch = changes(clip.pool.obs)
        if not ch:
            continue
        worst = max(ch, key=lambda c: c.change)
        sims = [_similarity(env, clip.pool, c) for c in ch]
        clips[clip.name] = {"source": p.parent.name, "pairs": len(ch), "max": round(worst.change, 2), "at_pair": [worst.a, worst.b],
                            "median": round(float(np.median([c.change for c in ch])), 2),
                            "min_similarity": round(min(sims), 3)}
        # the pairs the check looks at: inside the clip's real turns (frontal -> peak -> frontal)
        segs, _, _ = excursions(clip.pool)
        inside = [c.change for a in ("turn_left", "turn_right") for seg in segs.get(a, [])
                  for c in ch if seg[0] - 1 <= c.a and c.b <= seg[-1]]
        if inside:
            clips[clip.name]["turn_pairs"] = len(inside)
            clips[clip.name]["turn_max"] = round(max(inside), 2)
            turn_pairs += inside
    worst = max(v["max"] for v in clips.values())
    sim_low = sorted((v["min_similarity"], k) for k, v in clips.items())
    held_out = {"clip": held_out_check(clips, lambda k, v: k), "source": held_out_check(clips, lambda k, v: v["source"])}
    return {"lowest_similarities": sim_low[:3], "clips": clips, "pairs": sum(v["pairs"] for v in clips.values()),
            "worst": worst, "margin": MARGIN, "held_out": held_out,
            "threshold_derived": round(worst * MARGIN, 1),
            # not used for the threshold (looked at after the attacks were measured): real turns only
            "turn_pairs": len(turn_pairs), "turn_worst": round(max(turn_pairs), 2) if turn_pairs else None}


def attacks(env, data: Path, n_subjects: int, seed: int, threshold: float) -> dict:
    from benchmarks.attacks.subjects import load_subjects
    from benchmarks.liveness_attacks import build_species
    from idmatch.liveness.continuity import changes

    n_casia = n_subjects * 4 // 10
    subjects = load_subjects(env.engine, data, n_lfw=n_subjects - n_casia, n_casia=n_casia)
    out: dict = {}
    for sp in ("print_flipbook", "print_flipbook_stack"):
        rows, swaps, seen, sims = {}, 0, 0, []
        for k, subj in enumerate(subjects):
            sheet, perf = build_species(env, sp, subj, {}, [], k, seed)
            acts = {}
            for action, segs in perf.segments.items():
                seg = segs[0]
                pool = seg[0][0]
                idx = [i for _, i in seg]
                ch = changes(pool.obs, idx[0], idx[-1])
                tg = sheet.targets[action]
                swapped = tg.page != sheet.rest_page
                top = max(ch, key=lambda c: c.change, default=None)
                mx = None if top is None else top.change
                acts[action] = {"page_swap": swapped, "via": list(tg.via), "max_change": None if mx is None else round(mx, 2)}
                if swapped and top is not None:
                    acts[action]["swap_similarity"] = round(_similarity(env, pool, top), 3)
                    sims.append(acts[action]["swap_similarity"])
                if swapped:
                    swaps += 1
                    seen += int(mx is not None and mx > threshold)
            rows[subj.name] = acts
            log.info("%s %s %s", sp, subj.name, acts)
        out[sp] = {"subjects": rows, "actions_with_page_swap": swaps, "swaps_seen_as_cut": seen,
                   "swap_similarity_range": [min(sims), max(sims)] if sims else None}
    return out


def main(argv=None) -> int:
    from benchmarks.liveness_attacks import Env
    from idmatch.liveness import ChallengeConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=10)
    ap.add_argument("--seed", type=int, default=20261203)
    ap.add_argument("--out", default=str(REPORTS / "flipbook_continuity.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data = require_data()
    env = Env(pad=False)
    thr = ChallengeConfig().max_cut_change
    out = {"threshold": thr, "bona_fide": bona_fide(env, data)}
    log.info("bona fide: worst %.2f -> derived %.1f (config %s)", out["bona_fide"]["worst"],
             out["bona_fide"]["threshold_derived"], thr)
    out["attacks"] = attacks(env, data, args.subjects, args.seed, thr)
    Path(args.out).write_text(json.dumps(out, indent=1))
    for sp, d in out["attacks"].items():
        log.info("%s: %d of %d page-swapping actions seen as a cut", sp, d["swaps_seen_as_cut"], d["actions_with_page_swap"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
