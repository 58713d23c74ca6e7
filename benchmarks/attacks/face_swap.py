"""PAI species ``face_swap`` and ``morph_bridge``: the attacker performs the moves with his own
real face (a real clip of another person, spliced onto the prompts like a bona fide applicant)
and holds a print in front of his face at the start and at the end -- the frontal frames the
service picks its best frame from -- so that the frame matched against the ID portrait shows the
victim (``face_swap``: the victim's own photo) or an attacker/victim morph
(``morph_bridge``, ratio 0.5-0.8 tuned by the attacker with a face recogniser: close enough to the attacker for the identity-continuity check, close enough
to the victim for the portrait match).

An attack passes when the challenge passes *and* the best frame matches the victim's ID portrait
at the service's threshold (FMR 1e-4); both are reported.

Not modelled: a digital face swap injected into the video stream (a virtual-camera attack), a
mask; the attacker's moves are limited to what his clip supplies (turns).
"""
from __future__ import annotations

import numpy as np

from .clips import Clip, clip_performance
from .performance import CachedPerformance
from .render import CX, CY, FOCAL, SheetPose, camera, composite, render_sheet
from .sheet import FACE_MM, Shake, make_sheet
from .subjects import Photo

SPECIES = ("face_swap", "morph_bridge")


def attacker_segments(perf: CachedPerformance, threshold: float = 15.0) -> dict:
    """The attacker turns as far as the check needs: only his clip's turns that reach the step
    threshold (the attack is on identity, not on how far a real head turns)."""
    out = {}
    for a, segs in perf.segments.items():
        sign = 1.0 if a == "turn_left" else -1.0 if a == "turn_right" else 0.0
        keep = [s for s in segs if sign and max(sign * p.pose(i).yaw for p, i in s) >= threshold]
        if keep:
            out[a] = keep
    return out


def _attacker_frontal(clip: Clip, perf: CachedPerformance) -> int:
    pool = clip.pool
    return min((i for _, i in perf.rest), key=lambda i: abs(pool.pose(i).yaw) + abs(pool.pose(i).pitch))


def morph_photo(engine, victim: Photo, clip: Clip, idx: int, ratio: float = 0.5) -> Photo:
    from idmatch.detect import choose_face, find_faces
    from idmatch.liveness import estimate_pose

    from .morph import morph

    vf = choose_face(find_faces(victim.image, engine.detector, engine.config.detection)[0], victim.image.shape,
                     engine.config.detection)
    att = clip.image(idx)
    img = morph(victim.image, vf.box, att, clip.pool.faces[idx].box, ratio=ratio)
    found, _ = find_faces(img, engine.detector, engine.config.detection)
    face = choose_face(found, img.shape, engine.config.detection)
    p = estimate_pose(face.landmarks)
    return Photo(f"morph({victim.path},{clip.name}#{idx},{ratio})", img,
                 np.asarray(face.landmarks, np.float64).reshape(5, 2), p.yaw, p.pitch, p.size)


def best_morph(engine, victim: Photo, clip: Clip, rest: list[int], ratios=(0.5, 0.6, 0.7, 0.8)) -> tuple[Photo, dict]:
    """The attacker tunes his morph with a face recogniser (this one): among a few of his frontal
    frames and morph ratios, the one that best clears both the identity-continuity threshold (vs his
    own face) and the portrait-match threshold (vs the victim's photo he holds)."""
    from idmatch.liveness import ChallengeConfig, identity_threshold
    from idmatch.match import cosine_score

    id_thr = identity_threshold(engine, ChallengeConfig())
    match_thr = float(engine.calibration.threshold_for(1e-4))
    victim_t = engine.analyze(victim.image, role="portrait").template
    pool = clip.pool
    frames = sorted(rest, key=lambda i: abs(pool.pose(i).yaw) + abs(pool.pose(i).pitch))[:6][::2]
    best, best_score, info = None, -np.inf, {}
    for idx in frames:
        for r in ratios:
            try:
                ph = morph_photo(engine, victim, clip, idx, r)
                t = engine.analyze(ph.image).template
            except Exception:  # noqa: BLE001 - a failed morph is just not a candidate
                continue
            att_t = pool.template(engine, idx)
            s_att, s_vic = cosine_score(t, att_t), cosine_score(t, victim_t)
            score = min(s_att - id_thr, s_vic - match_thr)
            if score > best_score:
                best, best_score = ph, score
                info = {"frame": idx, "ratio": r, "sim_attacker": round(s_att, 3), "sim_victim": round(s_vic, 3)}
    if best is None:
        raise RuntimeError("no morph could be made")
    return best, info


def print_over_face(sheet, frame: np.ndarray, face, shake: Shake, t: float, rng: np.random.Generator) -> np.ndarray:
    """The attacker's camera frame with the print held over his face (same size, nose on nose)."""
    from idmatch.liveness import estimate_pose

    size = estimate_pose(face.landmarks).size
    nx, ny = float(face.landmarks[2][0]), float(face.landmarks[2][1])
    z = FOCAL * FACE_MM / max(size, 1.0)
    pose = SheetPose(tx=(nx - CX) * z / FOCAL, ty=(ny - CY) * z / FOCAL, z=z, tilt=5.0).plus(**shake.at(t))
    layer, alpha = render_sheet(sheet, pose)
    return camera(composite(frame.astype(np.float32), layer, alpha), rng, blur=0.5, noise=1.5)


def build(species: str, subject, engine, passive, clip: Clip, rng: np.random.Generator,
          lead_frames: int = 12) -> CachedPerformance:
    from .analysis import analyze_pool

    perf = clip_performance(clip, species=species, subject=subject.name)
    perf.segments = attacker_segments(perf)
    rest = [i for _, i in perf.rest]
    morph_info: dict = {}
    if species == "face_swap":
        photo = subject.frontal
    else:
        photo, morph_info = best_morph(engine, subject.frontal, clip, rest)
    sheet = make_sheet(photo, rng)
    shake = Shake.draw(rng, scale=0.7)
    frames = [print_over_face(sheet, clip.image(rest[k % len(rest)]), clip.pool.faces[rest[k % len(rest)]], shake, k / 10.0, rng)
              for k in range(lead_frames)]
    pool = analyze_pool(engine, frames, passive, name=f"{subject.name}/{species}")
    perf.lead = [(pool, i) for i in range(len(frames))]
    perf.frames_analysed = len(frames)   # the clip itself is analysed once for all subjects
    perf.analysis_ms = pool.ms
    perf.info.update({"attacker_clip": clip.name, "printed": photo.path, **({"morph": morph_info} if morph_info else {})})
    return perf
