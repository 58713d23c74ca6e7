"""Attack subjects (the victims) from ../shared/data: LFW people with many photos and
CASIA-FaceV5 people (5 photos each). Each photo is detected once and its pose read with the
library's estimator, so the attacker can pick a frontal photo to print and, for the flipbook,
the photos whose pose matches each prompt. One photo that is not printed plays the ID portrait.
"""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)


@dataclass
class Photo:
    path: str                 # relative to the shared data root
    image: np.ndarray         # BGR
    landmarks: np.ndarray     # (5, 2)
    yaw: float
    pitch: float
    size: float               # HeadPose.size (pixels)

    @property
    def nose(self) -> tuple[float, float]:
        return float(self.landmarks[2, 0]), float(self.landmarks[2, 1])


@dataclass
class Subject:
    name: str
    population: str
    photos: list[Photo] = field(default_factory=list)

    @property
    def frontal(self) -> Photo:
        """The photo the attacker prints (the most frontal one)."""
        return min(self.photos, key=lambda p: abs(p.yaw) + 0.5 * abs(p.pitch))

    @property
    def portrait(self) -> Photo:
        """The ID portrait: the most frontal photo other than the printed one."""
        rest = [p for p in self.photos if p is not self.frontal] or self.photos
        return min(rest, key=lambda p: abs(p.yaw) + 0.5 * abs(p.pitch))


def _read(data: Path, rel: str) -> np.ndarray | None:
    return cv2.imread(str(data / rel), cv2.IMREAD_COLOR)


def load_photo(engine, data: Path, rel: str) -> Photo | None:
    from idmatch.detect import choose_face, find_faces
    from idmatch.liveness import estimate_pose

    img = _read(data, rel)
    if img is None:
        return None
    found, _ = find_faces(img, engine.detector, engine.config.detection)
    if len(found) != 1:
        return None
    face = choose_face(found, img.shape, engine.config.detection)
    p = estimate_pose(face.landmarks)
    if p is None:
        return None
    return Photo(rel, img, np.asarray(face.landmarks, np.float64).reshape(5, 2), p.yaw, p.pitch, p.size)


def lfw_candidates(data: Path, min_images: int = 8) -> list[str]:
    base = data / "verification/lfw_deepfunneled/images"
    people = [(len(list(d.glob("*.jpg"))), d.name) for d in base.iterdir() if d.is_dir()]
    return [n for c, n in sorted(people, key=lambda x: (-x[0], x[1])) if c >= min_images]


def casia_candidates(data: Path) -> list[str]:
    rows = csv.DictReader(open(data / "verification/casia_facev5/identities.csv"))
    return sorted({r["identity"] for r in rows})


def load_subjects(engine, data: Path, n_lfw: int = 6, n_casia: int = 4, min_photos: int = 4,
                  max_photos: int = 10) -> list[Subject]:
    """``n_lfw`` LFW people (most photos first) and ``n_casia`` CASIA people, each with at least
    ``min_photos`` photos in which exactly one face is found."""
    out: list[Subject] = []
    for name in lfw_candidates(data):
        if sum(s.population == "lfw" for s in out) >= n_lfw:
            break
        rels = sorted(str(p.relative_to(data)) for p in (data / "verification/lfw_deepfunneled/images" / name).glob("*.jpg"))
        photos = [ph for ph in (load_photo(engine, data, r) for r in rels[:max_photos]) if ph is not None]
        if len(photos) >= min_photos:
            out.append(Subject(name, "lfw", photos))
    rows = list(csv.DictReader(open(data / "verification/casia_facev5/identities.csv")))
    for ident in casia_candidates(data):
        if sum(s.population == "casia_facev5" for s in out) >= n_casia:
            break
        rels = sorted(r["path"] for r in rows if r["identity"] == ident)
        rels = [r if r.startswith("verification/") else f"verification/casia_facev5/{r}" for r in rels]
        photos = [ph for ph in (load_photo(engine, data, r) for r in rels[:max_photos]) if ph is not None]
        if len(photos) >= min_photos:
            out.append(Subject(f"casia_{ident}", "casia_facev5", photos))
    # interleave the populations, so a run cut short still covers both
    lfw = [s for s in out if s.population == "lfw"]
    casia = [s for s in out if s.population != "lfw"]
    mixed = []
    while lfw or casia:
        mixed += lfw[:2] + casia[:1]
        lfw, casia = lfw[2:], casia[1:]
    log.info("subjects: %s", ", ".join(f"{s.name} ({len(s.photos)} photos)" for s in mixed))
    return mixed
