"""The verification path, top to bottom: image → face → aligned crop → template → score → decision.

Quality and liveness plug in as stages on a :class:`FaceAnalysis` (see
:mod:`idmatch.quality`, :mod:`idmatch.liveness`); this module needs neither.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from .align import align_face
from .errors import NoFaceError
from .evaluation.conditions import capture_class, image_colour
from .detect import DetectionConfig, FaceSelection, select_face
from .imaging import DEFAULT_LIMITS, ImageLimits, decode_image, decode_work
from .match import DEFAULT_FMR, Calibration, cosine_score, shipped_calibration
from .models import DetectedFace, get_detector, get_recognizer

log = logging.getLogger(__name__)

Role = Literal["live", "portrait"]


@dataclass(frozen=True)
class EngineConfig:
    detector: str = "yunet"
    recognizer: str = "sface"
    # embed the mirrored crop too and average: +0.07 pt LFW accuracy for ~1.8x the time (README);
    # off by default so a verified pair stays >= 3x faster than face_recognition/dlib
    flip_augment: bool = False
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    limits: ImageLimits = DEFAULT_LIMITS


@dataclass
class FaceAnalysis:
    """Everything later stages need about the one face in an image."""

    image: np.ndarray               # decoded BGR image
    selection: FaceSelection
    aligned: np.ndarray             # 112x112 BGR crop
    template: np.ndarray            # L2-normalised embedding
    timings_ms: dict[str, float] = field(default_factory=dict)
    rotation: int = 0               # degrees the image was turned (clockwise) to find the face

    @property
    def face(self) -> DetectedFace:
        return self.selection.face

    @property
    def capture_class(self) -> str:
        """``grey`` / ``close`` / ``lowres`` / ``normal``: the capture condition as the image shows it (issue 17)."""
        h, w = self.image.shape[:2]
        _x, _y, bw, bh = self.face.box
        return capture_class(h, w, bw, bh, self.face.inter_eye_distance, image_colour(self.image))

    def summary(self) -> dict:
        x, y, w, h = self.face.box
        return {
            "faces_found": self.selection.count,
            "detection_pass": self.selection.detection_pass,
            "face_box": [round(x, 1), round(y, 1), round(w, 1), round(h, 1)],
            "detector_score": round(self.face.score, 4),
            "inter_eye_px": round(self.face.inter_eye_distance, 1),
            "rotation": self.rotation,
            "capture_class": self.capture_class,
        }


@dataclass
class VerifyResult:
    score: float
    threshold: float
    fmr: float
    match: bool
    calibration: str
    model: str
    id_face: dict
    live_face: dict
    timings_ms: dict[str, float]

    @property
    def decision(self) -> str:
        return "match" if self.match else "no_match"

    def to_dict(self) -> dict:
        return {
            "decision": self.decision, "match": self.match, "score": round(self.score, 5),
            "threshold": round(self.threshold, 5), "fmr": self.fmr, "calibration": self.calibration,
            "model": self.model, "id_face": self.id_face, "live_face": self.live_face,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }


class FaceEngine:
    """Composes the model backends into the verification path. Thread-safe; build once, reuse."""

    def __init__(self, config: EngineConfig | None = None, calibration: Calibration | None = None):
        self.config = config or EngineConfig()
        self.detector = get_detector(self.config.detector)
        self.recognizer = get_recognizer(self.config.recognizer)
        self._calibration = calibration

    @property
    def model_id(self) -> str:
        return f"{self.config.detector}+{self.config.recognizer}{'+flip' if self.config.flip_augment else ''}"

    @property
    def calibration(self) -> Calibration:
        if self._calibration is None:
            self._calibration = shipped_calibration(self.model_id)
        return self._calibration

    # -- stages -------------------------------------------------------------------------------
    def decode(self, source) -> np.ndarray:
        return decode_image(source, self.config.limits)

    def decode_work(self, source, side: int) -> tuple[np.ndarray, float]:
        """At most ``side`` px on the longer side, without building the full raster where the format
        allows (JPEG); returns the image and its scale (work / full). See :func:`imaging.decode_work`."""
        return decode_work(source, side, self.config.limits)

    def detect(self, img: np.ndarray) -> FaceSelection:
        return select_face(img, self.detector, self.config.detection)

    def detect_upright(self, img: np.ndarray, role: Role) -> tuple[np.ndarray, FaceSelection, int]:
        """Detect; for an ID portrait also try the image turned by 90/270/180 degrees.

        Document photos are often taken sideways (a passport booklet photographed open);
        a live capture is not rotated here -- the quality stage tells the person instead.
        Returns the (possibly rotated) image, the selection and the rotation applied.
        """
        try:
            return img, self.detect(img), 0
        except NoFaceError:
            if role != "portrait":
                raise
        for deg, code in ((90, cv2.ROTATE_90_CLOCKWISE), (270, cv2.ROTATE_90_COUNTERCLOCKWISE), (180, cv2.ROTATE_180)):
            turned = cv2.rotate(img, code)
            try:
                return turned, self.detect(turned), deg
            except NoFaceError:
                continue
        raise NoFaceError("no face found in the ID image (also tried it turned 90, 180 and 270 degrees): "
                          "photograph the page with the portrait, flat and in focus")

    def align(self, img: np.ndarray, face: DetectedFace) -> np.ndarray:
        return align_face(img, face.landmarks, self.recognizer.input_size[0])

    def embed(self, aligned: np.ndarray) -> np.ndarray:
        if not self.config.flip_augment:
            return self.recognizer.embed(aligned)
        pair = np.stack([aligned, np.ascontiguousarray(aligned[:, ::-1])])
        e = self.recognizer.embed(pair).sum(axis=0)
        return (e / max(float(np.linalg.norm(e)), 1e-12)).astype(np.float32)

    # -- composed -----------------------------------------------------------------------------
    def analyze(self, source, role: Role = "live") -> FaceAnalysis:
        """Decode, detect, choose, align and embed one image. Raises IdmatchError subclasses."""
        t0 = time.perf_counter()
        img = self.decode(source)
        t1 = time.perf_counter()
        img, sel, rotation = self.detect_upright(img, role)
        t2 = time.perf_counter()
        aligned = self.align(img, sel.face)
        t3 = time.perf_counter()
        template = self.embed(aligned)
        t4 = time.perf_counter()
        timings = {"decode": (t1 - t0) * 1e3, "detect": (t2 - t1) * 1e3, "align": (t3 - t2) * 1e3, "embed": (t4 - t3) * 1e3}
        log.debug("analyzed %s image: %d face(s), pass=%s", role, sel.count, sel.detection_pass)
        return FaceAnalysis(image=img, selection=sel, aligned=aligned, template=template, timings_ms=timings,
                            rotation=rotation)

    def compare(self, a: FaceAnalysis | np.ndarray, b: FaceAnalysis | np.ndarray, fmr: float = DEFAULT_FMR,
                classes: tuple[str | None, str | None] | None = None) -> tuple[float, float, bool]:
        """Score and decide. The capture classes of both sides (read off an analysis, or given for bare
        templates as ``classes``) pick their class pair's threshold; a side of unknown class (a bare
        template) gets the strictest pair the other side can make; with neither, the threshold is the
        one that holds for every calibrated capture condition."""
        # an analysis, a stored frame (any object with .template, maybe .capture_class) or a bare template
        ta = a.template if hasattr(a, "template") else a
        tb = b.template if hasattr(b, "template") else b
        score = cosine_score(ta, tb)
        if classes is None:
            classes = (getattr(a, "capture_class", None), getattr(b, "capture_class", None))
        threshold = self.calibration.threshold_for(fmr, classes)
        return score, threshold, score >= threshold

    def verify(self, id_source, live_source, fmr: float = DEFAULT_FMR) -> VerifyResult:
        """1:1 check of an ID portrait (chip photo or document photo) against a live capture."""
        return self.verify_analyses(self.analyze(id_source, role="portrait"), self.analyze(live_source, role="live"), fmr)

    def verify_analyses(self, id_a: FaceAnalysis, live: FaceAnalysis, fmr: float = DEFAULT_FMR) -> VerifyResult:
        """The decision for two analyses already made (e.g. after a quality gate looked at them)."""
        score, threshold, ok = self.compare(id_a, live, fmr)
        timings = {f"id_{k}": v for k, v in id_a.timings_ms.items()}
        timings.update({f"live_{k}": v for k, v in live.timings_ms.items()})
        timings["total"] = sum(timings.values())
        return VerifyResult(
            score=score, threshold=threshold, fmr=fmr, match=ok, calibration=self.calibration.name,
            model=self.model_id, id_face=id_a.summary(), live_face=live.summary(), timings_ms=timings,
        )
