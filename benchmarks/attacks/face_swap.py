"""PAI species ``face_swap`` and ``morph_bridge``: the attacker performs the moves with his own
real face (a real clip of another person, spliced onto the prompts like a bona fide applicant)
and holds a print in front of his face at the start and at the end -- the frontal frames the
service picks its best frame from -- so that the frame matched against the ID portrait shows the
victim (``face_swap``: the victim's own photo) or a 50/50 attacker/victim morph
(``morph_bridge``: close enough to the attacker for the identity-continuity check, close enough
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


def _attacker_frontal(clip: Clip, perf: CachedPerformance) -> int:
    pool = clip.pool
    return min((i for _, i in perf.rest), key=lambda i: abs(pool.pose(i).yaw) + abs(pool.pose(i).pitch))


def morph_photo(engine, victim: Photo, clip: Clip, idx: int) -> Photo:
    from idmatch.detect import choose_face, find_faces
    from idmatch.liveness import estimate_pose

    from .morph import morph

    vf = choose_face(find_faces(victim.image, engine.detector, engine.config.detection)[0], victim.image.shape,
                     engine.config.detection)
    att = clip.image(idx)
    img = morph(victim.image, vf.box, att, clip.pool.faces[idx].box)
    found, _ = find_faces(img, engine.detector, engine.config.detection)
    face = choose_face(found, img.shape, engine.config.detection)
    p = estimate_pose(face.landmarks)
    return Photo(f"morph({victim.path},{clip.name}#{idx})", img, np.asarray(face.landmarks, np.float64).reshape(5, 2),
                 p.yaw, p.pitch, p.size)


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
    idx = _attacker_frontal(clip, perf)
    photo = subject.frontal if species == "face_swap" else morph_photo(engine, subject.frontal, clip, idx)
    sheet = make_sheet(photo, rng)
    shake = Shake.draw(rng, scale=0.7)
    rest = [i for _, i in perf.rest]
    frames = [print_over_face(sheet, clip.image(rest[k % len(rest)]), clip.pool.faces[rest[k % len(rest)]], shake, k / 10.0, rng)
              for k in range(lead_frames)]
    pool = analyze_pool(engine, frames, passive, name=f"{subject.name}/{species}")
    perf.lead = [(pool, i) for i in range(len(frames))]
    perf.frames_analysed = len(frames)   # the clip itself is analysed once for all subjects
    perf.analysis_ms = pool.ms
    perf.info.update({"attacker_clip": clip.name, "printed": photo.path})
    return perf
