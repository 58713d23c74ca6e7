"""Attack the active liveness challenge as a fraudster at the counter would; ISO/IEC 30107-3 table.

For each subject (LFW people with many photos and CASIA-FaceV5 people, ../shared/data) and each
PAI species in ``benchmarks/attacks`` the attacker calibrates his moves against the library's own
pose reading, performs each action once in front of the camera (640x480, 10 frames/s, JPEG q80),
and each frame is observed once by the library (``observe_frame``). Every random challenge
(``Challenge.issue``, length 3, with its prompt schedule) is then assembled from those frames --
rest frames, and each step's move 0.3-0.9 s after its prompt -- and judged by the library's
``summarize`` and ``judge``, the code ``check_challenge`` runs. ``--full N`` also renders N whole captures per subject and species
frame by frame and sends them through ``check_challenge`` (the service path), to measure how
well captures assembled from observed pools agree with continuously rendered ones.

An attack counts as passed (APCER) when the challenge passes; the table also gives the rate at
which the passed challenge would be approved on the face: its best frame matches the victim's ID
portrait (another photo of the victim) at the service threshold (FMR 1e-4) and every turned frame
at the match stage's ``TURNED_FMR``.

Bona fide (BPCER): every real clip in ../shared/data/video becomes a cooperative applicant (see
``benchmarks/attacks/clips.py``), judged on challenges drawn over the actions it can supply.

Run (about 10-15 min of CPU on the shared 2 cores; writes reports/liveness_attacks.json and .md):
    nice .venv/bin/python benchmarks/liveness_attacks.py
    nice .venv/bin/python benchmarks/liveness_attacks.py --species print_folded --subjects 2 --challenges 20
    nice .venv/bin/python benchmarks/liveness_attacks.py --full 2      # + whole sequences, agreement
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from benchmarks.common import REPORTS, require_data  # noqa: E402

log = logging.getLogger("liveness_attacks")
MATCH_FMR = 1e-4


def seed_of(*parts) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "little")


@dataclass
class Tally:
    attempts: int = 0
    passes: int = 0
    passes_matched: int = 0
    reasons: Counter = field(default_factory=Counter)
    per_subject: dict = field(default_factory=dict)
    full_attempts: int = 0
    full_passes: int = 0
    full_agree: int = 0

    def add(self, subject: str, passed: bool, matched: bool, reasons) -> None:
        self.attempts += 1
        self.passes += int(passed)
        self.passes_matched += int(passed and matched)
        self.reasons.update(reasons)
        s = self.per_subject.setdefault(subject, [0, 0])
        s[0] += 1
        s[1] += int(passed)

    def to_dict(self) -> dict:
        rate = lambda a, b: round(a / b, 4) if b else None  # noqa: E731
        worst = max(self.per_subject.items(), key=lambda kv: kv[1][1] / max(kv[1][0], 1), default=(None, [0, 0]))
        d = {"attempts": self.attempts, "passes": self.passes, "apcer": rate(self.passes, self.attempts),
             "passes_and_match": self.passes_matched, "apcer_with_match": rate(self.passes_matched, self.attempts),
             "pai": len(self.per_subject), "worst_subject": worst[0], "worst_subject_apcer": rate(worst[1][1], worst[1][0]),
             "per_subject": {k: {"attempts": v[0], "passes": v[1]} for k, v in self.per_subject.items()},
             "reasons": dict(self.reasons.most_common())}
        if self.full_attempts:
            d["full"] = {"attempts": self.full_attempts, "passes": self.full_passes,
                         "apcer": rate(self.full_passes, self.full_attempts),
                         "agreement_with_cached": rate(self.full_agree, self.full_attempts)}
        return d


class Env:
    """Engine, passive model, thresholds; the library's current API looked up once."""

    def __init__(self, pad: bool = True):
        from idmatch.liveness import ChallengeConfig, PassiveLiveness, identity_threshold
        from idmatch.pipeline import FaceEngine

        self.engine = FaceEngine()
        self.passive = PassiveLiveness(engine=self.engine) if pad else None   # None: the active checks alone
        self.cfg = ChallengeConfig()
        self.identity_thr = identity_threshold(self.engine, self.cfg)
        self.match_thr = float(self.engine.calibration.threshold_for(MATCH_FMR))
        from idmatch.decision.stages.match import TURNED_FMR

        self.turned_thr = float(self.engine.calibration.threshold_for(TURNED_FMR))

    def challenge(self, rng: np.random.Generator, actions=None, length: int = 3):
        from idmatch.liveness import ACTIONS, Challenge

        acts = tuple(actions or ACTIONS)
        # at most one move_closer and no action twice in a row: shorter when few actions are supplied
        n_repeatable = len([a for a in acts if a != "move_closer"])
        length = min(length, 1 if n_repeatable <= 1 else length)
        return Challenge.issue(rng=rng, length=length, now=0.0, actions=acts)

    def portrait_template(self, photo) -> np.ndarray:
        return self.engine.analyze(photo.image, role="portrait").template


def judge_cached(env: Env, perf, challenge, rng):
    from benchmarks.attacks.analysis import assemble, judge_challenge
    from benchmarks.attacks.schedule import schedule_of

    sched = schedule_of(challenge, rng)
    seq = perf.sequence(sched, rng)
    res = judge_challenge(challenge, assemble(env.engine, env.passive, seq, sched.times, env.cfg), env.identity_thr,
                          sched.times, env.cfg)
    emb = res.templates.get(res.best_frame_index) if res.best_frame_index is not None else None
    return res, emb, sched


def matched(env: Env, emb, portrait, res=None) -> bool:
    """The registration would be approved on the face: the best frame matches the ID portrait at the
    service threshold (FMR 1e-4) and every turned frame the challenge names (``match_frames``) at
    the match stage's looser ``TURNED_FMR`` point, as ``decision/stages/match.py`` does."""
    from idmatch.match import cosine_score

    if emb is None or portrait is None or cosine_score(portrait, emb) < env.match_thr:
        return False
    extra = getattr(res, "match_frames", None) or []
    templates = getattr(res, "templates", None) or {}
    return all(i in templates and cosine_score(portrait, templates[i]) >= env.turned_thr for i in extra)


def run_bona_fide(env: Env, clips, n: int, seed: int, out: dict, full: bool = False, reached_only: bool = False) -> None:
    """``full``: each challenge's frames through ``check_challenge`` instead of the observed pools.
    ``reached_only``: the applicant's turns are only those of his clip that reach the step threshold
    (as if he turned as far as asked); reported as ``bona_fide_turns_reached``."""
    from tqdm import tqdm

    from benchmarks.attacks.analysis import check_full, frames_of
    from benchmarks.attacks.clips import clip_performance, reached_segments
    from benchmarks.attacks.schedule import schedule_of

    tally = Tally()
    usable = {}

    for clip in tqdm(clips, desc="bona fide clips"):
        perf = clip_performance(clip)
        if reached_only:
            perf.segments = reached_segments(perf)
        acts = perf.actions
        usable[clip.name] = {**perf.info, "actions": list(acts)}
        if not acts:
            continue
        fails = 0
        for c in range(n):
            rng = np.random.default_rng(seed_of(seed, "bona", clip.name, c))
            ch = env.challenge(rng, acts)
            if full:
                sched = schedule_of(ch, rng)
                res = check_full(env.engine, ch, frames_of(perf.sequence(sched, rng)), sched.times, env.passive, env.cfg)
            else:
                res, _, _ = judge_cached(env, perf, ch, rng)
            tally.add(clip.name, res.passed, True, res.reasons)
            fails += int(not res.passed)
        usable[clip.name]["bpcer"] = round(fails / n, 4)
        usable[clip.name]["bpcer_after_3_tries"] = round((fails / n) ** 3, 4)
    d = tally.to_dict()
    bp = [v["bpcer"] for v in usable.values() if "bpcer" in v]
    out["bona_fide_turns_reached" if reached_only else "bona_fide"] = {"clips": usable, "clips_total": len(clips), "clips_usable": len(bp), "attempts": d["attempts"],
                        "rejected": d["attempts"] - d["passes"],
                        "bpcer": round(1 - d["passes"] / d["attempts"], 4) if d["attempts"] else None,
                        "bpcer_after_3_tries": round(float(np.mean([b ** 3 for b in bp])), 4) if bp else None,
                        "needs_retry_share": round(float(np.mean(bp)), 4) if bp else None,
                        "reasons": d["reasons"]}


def build_species(env: Env, species: str, subject, clips_by_name, attacker_clips, k: int, seed: int):
    from benchmarks.attacks import SHEET_SPECIES, face_swap, still_frame
    from benchmarks.attacks.performance import sheet_performance

    rng = np.random.default_rng(seed_of(seed, "build", subject.name, species))
    if species in SHEET_SPECIES:
        perf = SHEET_SPECIES[species].build(subject, env.engine, rng)
        return perf, sheet_performance(perf, env.engine, env.passive, rng, subject.name)
    if species == "still_frame":
        return None, still_frame.build(subject, env.engine, env.passive, rng)
    clip = clips_by_name[attacker_clips[k % len(attacker_clips)]]
    return None, face_swap.build(species, subject, env.engine, env.passive, clip, rng)


def run_attacks(env: Env, subjects, species_list, clips, n: int, n_full: int, seed: int, out: dict,
                checkpoint=None, full_from_pool: bool = False) -> None:
    from tqdm import tqdm

    from benchmarks.attacks.analysis import check_full, frames_of
    from benchmarks.attacks.clips import clip_performance
    from benchmarks.attacks.face_swap import attacker_segments
    from benchmarks.attacks.performance import generate
    from benchmarks.attacks.schedule import schedule_of

    clips_by_name = {c.name: c for c in clips}
    attacker_clips = [c.name for c in clips if {"turn_left", "turn_right"} <= set(attacker_segments(clip_performance(c)))]
    tallies = {s: Tally() for s in species_list}
    calib: dict = {}
    cost = Counter()
    jobs = [(k, subj, sp) for k, subj in enumerate(subjects) for sp in species_list]
    for k, subj, sp in tqdm(jobs, desc="subjects x species"):
        if sp in ("face_swap", "morph_bridge") and not attacker_clips:
            log.warning("%s: no clip supplies both turns; skipped", sp)
            continue
        t0 = time.perf_counter()
        try:
            sheet_perf, perf = build_species(env, sp, subj, clips_by_name, attacker_clips, k, seed)
        except Exception as e:  # noqa: BLE001 - one failing subject must not end a 15-minute run
            log.warning("%s/%s: could not build (%s)", subj.name, sp, e)
            calib.setdefault(sp, {})[subj.name] = {"error": str(e)}
            continue
        cost[sp + "_build_s"] += time.perf_counter() - t0
        cost[sp + "_frames"] += perf.frames_analysed
        calib.setdefault(sp, {})[subj.name] = {**perf.info, "actions": list(perf.actions)}
        portrait = env.portrait_template(subj.portrait)
        acts = perf.actions if sp in ("face_swap", "morph_bridge") else None
        for c in range(n):
            rng = np.random.default_rng(seed_of(seed, sp, subj.name, c))
            ch = env.challenge(rng, acts)
            res, emb, _ = judge_cached(env, perf, ch, rng)
            tallies[sp].add(subj.name, res.passed, matched(env, emb, portrait, res), res.reasons)
        if n_full:
            t1 = time.perf_counter()
            for c in range(n_full):
                rng = np.random.default_rng(seed_of(seed, sp, subj.name, c))  # the same challenges as the cached run
                ch = env.challenge(rng, acts)
                sched = schedule_of(ch, rng)
                if sheet_perf is not None and not full_from_pool:   # rendered frame by frame over the whole capture
                    frames, times = generate(sheet_perf, sched.steps, sched.prompt_at, sched.capture_s, sched.fps, rng)
                else:                        # real clip / still frames, placed on the schedule
                    frames, times = frames_of(perf.sequence(sched, rng)), sched.times
                full = check_full(env.engine, ch, frames, times, env.passive, env.cfg)
                t = tallies[sp]
                t.full_attempts += 1
                t.full_passes += int(full.passed)
                cached, _, _ = judge_cached(env, perf, ch, np.random.default_rng(seed_of(seed, sp, subj.name, c, "x")))
                t.full_agree += int(full.passed == cached.passed)
            cost[sp + "_full_s"] += time.perf_counter() - t1
        out["species"] = {s: t.to_dict() for s, t in tallies.items()}
        out["calibration"] = calib
        out["cost"] = {k: round(v, 1) for k, v in cost.items()}
        out["attacker_clips"] = attacker_clips
        out["jobs_done"], out["jobs_total"] = jobs.index((k, subj, sp)) + 1, len(jobs)
        if checkpoint is not None:  # a long run on a busy machine leaves usable partial results
            checkpoint(out)


def combine(reports: list[dict]) -> dict:
    """One report from runs split by species or by subjects (same seed): tallies are summed."""
    out = json.loads(json.dumps(reports[0]))
    out["species"], out["calibration"], out["cost"] = {}, {}, {}
    out["combined_from"] = len(reports)
    out["complete"] = all(r.get("complete", True) for r in reports)
    out["jobs_done"] = sum(r.get("jobs_done", 0) for r in reports)
    out["jobs_total"] = sum(r.get("jobs_total", 0) for r in reports)
    for r in reports:
        out["subjects"] = {**out.get("subjects", {}), **r.get("subjects", {})}
        for key in ("bona_fide", "bona_fide_turns_reached"):
            if r.get(key):
                out[key] = r[key]
        for k, v in r.get("cost", {}).items():
            out["cost"][k] = round(out["cost"].get(k, 0) + v, 1)
        for sp, cal in r.get("calibration", {}).items():
            out["calibration"].setdefault(sp, {}).update(cal)
        for sp, d in r.get("species", {}).items():
            t = Tally()
            t.reasons = Counter()
            prev = out["species"].get(sp)
            for n_src, src in enumerate(([prev] if prev else []) + [d]):
                dup = {k: v for k, v in src["per_subject"].items() if k in t.per_subject} if n_src else {}
                # a job two split runs both did (same seed, same result) counts once; its reasons
                # cannot be told apart from the rest of the run's, so they stay (noted in the report)
                da, dp = sum(v["attempts"] for v in dup.values()), sum(v["passes"] for v in dup.values())
                t.attempts += src["attempts"] - da
                t.passes += src["passes"] - dp
                t.passes_matched += max(0, src["passes_and_match"] - dp)
                t.reasons.update(src["reasons"])
                for subj, v in src["per_subject"].items():
                    t.per_subject[subj] = [v["attempts"], v["passes"]]
                f = src.get("full") or {}
                t.full_attempts += f.get("attempts", 0)
                t.full_passes += f.get("passes", 0)
                t.full_agree += round((f.get("agreement_with_cached") or 0) * f.get("attempts", 0))
                if dup:
                    out.setdefault("duplicate_jobs_dropped", []).append(f"{sp}: {sorted(dup)}")
            if t.attempts or t.full_attempts:
                out["species"][sp] = t.to_dict()
    return out


def table(out: dict) -> str:
    rows = sorted(out.get("species", {}).items(), key=lambda kv: -(kv[1]["apcer"] or 0))
    lines = [] if out.get("passive_pad", True) else [
        "*Without the passive model: what the active checks (motion, timing, depth, identity) stop alone.*\n"]
    lines += [] if out.get("complete", True) else [
        f"*Partial run: {out.get('jobs_done')} of {out.get('jobs_total')} subject x species jobs done.*\n"]
    lines += ["| PAI species | PAIs (subjects) | attempts | passes | APCER | worst subject (APCER) | passes + portrait match | APCER incl. match |",
             "|---|---|---|---|---|---|---|---|"]
    for s, d in rows:
        if not d["attempts"]:
            continue
        lines.append(f"| {s} | {d['pai']} | {d['attempts']} | {d['passes']} | {100 * d['apcer']:.1f} % | "
                     f"{d['worst_subject']} ({100 * (d['worst_subject_apcer'] or 0):.0f} %) | {d['passes_and_match']} | "
                     f"{100 * d['apcer_with_match']:.1f} % |")
    if rows and rows[0][1]["attempts"]:
        lines.append(f"\nWorst species: **{rows[0][0]}** (APCER {100 * rows[0][1]['apcer']:.1f} %).")
    for key, title in (("bona_fide", "Bona fide, every real turn of the clips (peak >= 10°)"),
                       ("bona_fide_turns_reached", "Bona fide, only the clips' moves that reach 1.25x the step (15° turns, 12.5° nods: the applicant moved as asked)")):
        bf = out.get(key)
        if not (bf and bf.get("attempts")):
            continue
        lines.append(f"\n{title}: {bf['clips_usable']} of {bf['clips_total']} clips usable, {bf['attempts']} attempts, "
                     f"{bf['rejected']} rejected: **BPCER {100 * bf['bpcer']:.1f} %** (after up to 3 tries "
                     f"{100 * bf['bpcer_after_3_tries']:.1f} %). Reasons: {bf['reasons']}")
        lines.append("\n| clip | frames | actions supplied (segments) | BPCER |\n|---|---|---|---|")
        for name, c in bf["clips"].items():
            seg = ", ".join(f"{a} ({n})" for a, n in c.get("segments", {}).items()) or "none"
            if key == "bona_fide_turns_reached":
                seg = ", ".join(c.get("actions", [])) or "none"
            b = f"{100 * c['bpcer']:.0f} %" if "bpcer" in c else "not usable"
            lines.append(f"| {name} | {c['frames']} | {seg} | {b} |")
    full = [(s, d["full"]) for s, d in rows if "full" in d]
    if full:
        lines.append("\n| PAI species | full captures | passes | APCER (full) | agreement with cached |\n|---|---|---|---|---|")
        for s, f in full:
            agree = "-" if f["agreement_with_cached"] is None else f"{100 * f['agreement_with_cached']:.0f} %"
            lines.append(f"| {s} | {f['attempts']} | {f['passes']} | {100 * f['apcer']:.1f} % | {agree} |")
    return "\n".join(lines)


def library_fingerprint() -> str:
    """Hash of the liveness code and the models' data: cached clip analyses are reused only while
    the library analyses frames the same way."""
    import idmatch

    root = Path(idmatch.__file__).parent
    h = hashlib.sha256()
    for f in sorted([*root.glob("liveness/*.py"), *root.glob("detect.py"), *root.glob("align.py"), *root.glob("data/liveness_pad.json")]):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def cached_clip(path: Path, env: Env, max_s: float):
    """A real clip analysed by the library, cached in .cache/liveness_attacks/ (keyed by the library's fingerprint)."""
    import pickle

    from benchmarks.attacks.clips import load_clip

    cache = REPO / ".cache" / "liveness_attacks"
    f = cache / f"clip-{path.stem}-{max_s:g}s-{library_fingerprint()}.pkl"
    if f.exists():
        try:
            return pickle.loads(f.read_bytes())
        except Exception:  # noqa: BLE001 - a stale or truncated cache is just recomputed
            pass
    clip = load_clip(path, env.engine, env.passive, max_s=max_s)
    cache.mkdir(parents=True, exist_ok=True)
    f.write_bytes(pickle.dumps(clip))
    return clip


def main(argv=None) -> int:
    from benchmarks.attacks import ALL_SPECIES
    from benchmarks.attacks.clips import clip_paths
    from benchmarks.attacks.subjects import load_subjects

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--species", default=",".join(ALL_SPECIES))
    ap.add_argument("--subjects", type=int, default=10, help="LFW and CASIA subjects together (60/40)")
    ap.add_argument("--challenges", type=int, default=50, help="random challenges per subject and species")
    ap.add_argument("--bona-fide-challenges", type=int, default=50, help="per clip")
    ap.add_argument("--full", type=int, default=0, help="whole rendered captures per subject and sheet species")
    ap.add_argument("--no-bona-fide", action="store_true")
    ap.add_argument("--no-pad", action="store_true",
                    help="without the passive model: what the active checks (motion, timing, depth, identity) stop alone")
    ap.add_argument("--full-from-pool", action="store_true",
                    help="whole captures assembled from the rendered rest/move frames (cheaper than rendering each)")
    ap.add_argument("--clip-seconds", type=float, default=20.0)
    ap.add_argument("--clips", default="", help="comma-separated clip names (default: every clip)")
    ap.add_argument("--seed", type=int, default=20261203)
    ap.add_argument("--out", default=str(REPORTS / "liveness_attacks.json"))
    ap.add_argument("--merge", action="store_true", help="merge this run's species into an existing --out report")
    ap.add_argument("--subject-range", default="", help="a:b -- only subjects a..b-1 of the list (split a run over processes)")
    ap.add_argument("--combine", nargs="+", metavar="REPORT", help="combine reports of split runs into --out and exit")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.combine:
        out = combine([json.loads(Path(f).read_text()) for f in args.combine])
        Path(args.out).write_text(json.dumps(out, indent=1, default=str))
        Path(args.out).with_suffix(".md").write_text(f"# Liveness attack benchmark (ISO/IEC 30107-3)\n\n{table(out)}\n")
        print(table(out))
        return 0
    data = require_data()
    species = [s for s in args.species.split(",") if s]
    unknown = set(species) - set(ALL_SPECIES)
    if unknown:
        ap.error(f"unknown species {sorted(unknown)}; known: {ALL_SPECIES}")
    t0 = time.perf_counter()
    env = Env(pad=not args.no_pad)
    out: dict = {"passive_pad": not args.no_pad, "fps": 10.0, "frame_size": [640, 480], "jpeg_quality": 80, "seed": args.seed,
                 "challenges_per_subject": args.challenges, "identity_threshold": env.identity_thr,
                 "match_threshold": env.match_thr, "match_fmr": MATCH_FMR}
    n_casia = args.subjects * 4 // 10
    subjects = load_subjects(env.engine, data, n_lfw=args.subjects - n_casia, n_casia=n_casia)
    if args.subject_range:
        a, b = (int(x) if x else None for x in args.subject_range.split(":"))
        subjects = subjects[a:b]
    out["subjects"] = {s.name: {"population": s.population, "photos": len(s.photos), "printed": s.frontal.path,
                                "portrait": s.portrait.path} for s in subjects}
    need_clips = not args.no_bona_fide or {"face_swap", "morph_bridge"} & set(species)
    clips = []
    if need_clips:
        from tqdm import tqdm

        paths = [p for p in clip_paths(data) if not args.clips or p.stem in args.clips.split(",")]
        for p in tqdm(paths, desc="clips (analysed once)"):
            try:
                clips.append(cached_clip(p, env, args.clip_seconds))
            except Exception as e:  # noqa: BLE001
                log.warning("clip %s unusable: %s", p.name, e)
    if not args.no_bona_fide:
        run_bona_fide(env, clips, args.bona_fide_challenges, args.seed, out)
        run_bona_fide(env, clips, args.bona_fide_challenges, args.seed, out, reached_only=True)
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = json.loads(path.read_text()) if args.merge and path.exists() else None

    def write(o: dict, final: bool = False) -> dict:
        o = dict(o, complete=final, wall_s=round(time.perf_counter() - t0, 1))
        if base is not None:
            m = json.loads(json.dumps(base))
            for key in ("species", "calibration", "cost"):
                m.setdefault(key, {}).update(o.get(key, {}))
            for key in ("bona_fide", "bona_fide_turns_reached", "attacker_clips"):
                if key in o:
                    m[key] = o[key]
            m["merged_runs"] = base.get("merged_runs", []) + [{"species": species, "wall_s": o["wall_s"], "complete": final}]
            o = m
        path.write_text(json.dumps(o, indent=1, default=str))
        path.with_suffix(".md").write_text(f"# Liveness attack benchmark (ISO/IEC 30107-3)\n\n{table(o)}\n")
        return o

    run_attacks(env, subjects, species, clips, args.challenges, args.full, args.seed, out, checkpoint=write,
                full_from_pool=args.full_from_pool)
    out = write(out, final=True)
    print(table(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
