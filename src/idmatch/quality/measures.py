"""The quality measures: one small class each (raw value, 0-100 component, profile threshold).

Geometric measures read the detector output and the original image; photometric and facial
measures read the 112x112 aligned crop (the very pixels the recognizer sees), so their values
do not depend on the capture's size. Raw units and the component mapping are listed in
``docs/quality.md``.
"""
from __future__ import annotations

import cv2
import numpy as np

from .base import Measure, MeasureResult, NotAssessable, ramp
from .config import QualityProfile
from .context import EYE_BOXES, FACE_MASK, LEFT_HALF, LOWER_FACE, RIGHT_HALF, UPPER_FACE, FaceContext
from .eyes import eye_aspect_ratios


# -- geometry -----------------------------------------------------------------------------------
class FaceCount(Measure):
    """Faces of comparable size in view (a face counts at >= ``other_face_min_ratio`` x the main
    face's area; smaller ones are background). Rejects 0 (``no_face``) and > max (``multiple_faces``)."""

    name, unit, code = "face_count", "faces", "multiple_faces"
    needs_face = False
    weight = 0.0  # a gate, not a degree of quality

    def compute(self, ctx: FaceContext) -> tuple[float, dict]:
        return float(len(ctx.faces)), {}

    def evaluate(self, ctx: FaceContext, profile: QualityProfile) -> MeasureResult:
        if not ctx.faces:
            return MeasureResult(self.name, 0.0, 0, self.unit, float(profile.max_faces), False, code="no_face",
                                 detail={"detection_pass": ctx.detection_pass})
        main = ctx.face.area if ctx.face is not None else max(f.area for f in ctx.faces)
        counted = [f for f in ctx.faces if f.area >= profile.other_face_min_ratio * main]
        n = len(counted)
        ok = n <= profile.max_faces
        return MeasureResult(self.name, float(n), 100 if ok else 0, self.unit, float(profile.max_faces), ok,
                             code=self.code, detail={"all_detected": len(ctx.faces)})


class InterEyeDistance(Measure):
    """Pixels between the eye centres in the original image (ISO/IEC 39794-5 asks >= 90 for
    reference portraits; the recognizer's 112 crop holds ~35)."""

    name, unit, code = "inter_eye_distance", "px", "face_too_small"

    def compute(self, ctx):
        return ctx.face.inter_eye_distance, {}

    def component(self, raw):
        return ramp(raw, 12.0, 60.0)

    def threshold(self, p):
        return p.min_inter_eye_px


class Resolution(Measure):
    """Shorter image side in pixels (a 240p frame is too coarse for a live capture)."""

    name, unit, code = "image_resolution", "px", "low_resolution"
    needs_face = False
    weight = 0.0  # a gate: what matters to matching is the face's size, measured above

    def compute(self, ctx):
        return float(min(ctx.image.shape[:2])), {"width": int(ctx.image.shape[1]), "height": int(ctx.image.shape[0])}

    def component(self, raw):
        return ramp(raw, 80.0, 480.0)

    def threshold(self, p):
        return p.min_image_side


class InsideFrame(Measure):
    """Share of the face box, grown by ``frame_margin`` on each side, that lies inside the image."""

    name, unit, code = "face_inside_frame", "share", "face_cut_off"

    def compute(self, ctx):
        x, y, w, h = ctx.face.box
        m = ctx.profile.frame_margin if ctx.profile is not None else 0.15
        gx0, gy0, gx1, gy1 = x - m * w, y - m * h, x + (1 + m) * w, y + (1 + m) * h
        H, W = ctx.image.shape[:2]
        ix = max(0.0, min(gx1, W) - max(gx0, 0.0))
        iy = max(0.0, min(gy1, H) - max(gy0, 0.0))
        share = ix * iy / max((gx1 - gx0) * (gy1 - gy0), 1e-9)
        pts = ctx.face.landmarks
        lm_inside = bool(np.all((pts[:, 0] >= 0) & (pts[:, 0] < W) & (pts[:, 1] >= 0) & (pts[:, 1] < H)))
        return (share if lm_inside else 0.0), {"landmarks_inside": lm_inside, "margin": m}

    def component(self, raw):
        return ramp(raw, 0.6, 1.0)

    def threshold(self, p):
        return p.min_inside_frame


class _PoseAngle(Measure):
    axis = ""
    unit = "deg"
    higher_is_better = False

    def compute(self, ctx):
        pose = ctx.pose
        if pose is None:
            raise NotAssessable("landmarks too degenerate to estimate head pose")
        return abs(getattr(pose, self.axis)), {"signed": round(getattr(pose, self.axis), 1)}

    def component(self, raw):
        return ramp(raw, 45.0, 0.0)


class Yaw(_PoseAngle):
    name, axis, code = "head_yaw", "yaw", "head_pose"

    def component(self, raw):
        return ramp(raw, 60.0, 0.0)

    def threshold(self, p):
        return p.max_yaw_deg


class Pitch(_PoseAngle):
    name, axis, code = "head_pitch", "pitch", "head_pose"

    def threshold(self, p):
        return p.max_pitch_deg


class Roll(_PoseAngle):
    name, axis, code = "head_roll", "roll", "head_tilted"
    weight = 0.5  # alignment undoes roll; it matters little to the recognizer

    def threshold(self, p):
        return p.max_roll_deg


class Orientation(Measure):
    """Is the image rotated by 90/180/270 degrees? Raw: how much better the detector scores the
    face region when it is turned (0 = upright is best). YuNet often still "finds" a face in an
    upside-down image (with its landmarks laid out upright) but with a lower score; so the
    check runs when the upright detection is not confident (score < 0.9, a retry pass, or a
    large roll) and is skipped -- raw 0, ``detail.checked`` false -- otherwise (cost)."""

    name, unit, code = "orientation", "score_gain", "image_rotated"
    higher_is_better = False
    weight = 0.0
    CONFIDENT = 0.9
    WORK = 160

    def compute(self, ctx):
        if ctx.detector is None:
            raise NotAssessable("no detector given to check the orientation")
        f = ctx.face
        pose = ctx.pose
        suspicious = (f.score < self.CONFIDENT or ctx.detection_pass != "direct"
                      or (pose is not None and abs(pose.roll) > 20))
        if not suspicious:
            return 0.0, {"checked": False}
        x, y, w, h = f.box
        side = 1.8 * max(w, h)
        cx, cy = x + w / 2, y + h / 2
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        s = int(round(side))
        H, W = ctx.image.shape[:2]
        cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x0 + s), min(H, y0 + s)
        if cx1 - cx0 < 8 or cy1 - cy0 < 8:
            raise NotAssessable("face region outside the image")
        # pad only the crop (never the whole, possibly 40-megapixel, image) to a square
        crop = cv2.copyMakeBorder(ctx.image[cy0:cy1, cx0:cx1], cy0 - y0, y0 + s - cy1, cx0 - x0, x0 + s - cx1,
                                  cv2.BORDER_CONSTANT, value=(127, 127, 127))
        crop = cv2.resize(crop, (self.WORK, self.WORK), interpolation=cv2.INTER_AREA)
        scores = {}
        for k, rot in ((0, None), (90, cv2.ROTATE_90_CLOCKWISE), (180, cv2.ROTATE_180), (270, cv2.ROTATE_90_COUNTERCLOCKWISE)):
            img = crop if rot is None else cv2.rotate(crop, rot)
            found = ctx.detector.detect(img, 0.3)
            scores[k] = max((d.score for d in found), default=0.0)
        best = max(scores, key=scores.get)
        # evidence of rotation: the turned crop must beat upright by a margin AND be a confident
        # face itself (a rolled head scores middling at several turns, an upside-down one does not)
        evidence = min(scores[best] - scores[0], scores[best] - 0.8)
        return float(max(0.0, evidence)), {"checked": True, "scores": {str(k): round(v, 3) for k, v in scores.items()},
                                           "turn_clockwise_deg": best}

    def component(self, raw):
        return ramp(raw, 0.2, 0.0)

    def threshold(self, p):
        return 0.1 if p.check_orientation else None


# -- photometric (aligned crop) -----------------------------------------------------------------
def face_sharpness(gray_aligned: np.ndarray) -> float:
    """THE sharpness of idmatch: RMS of the Laplacian over the face region of an aligned crop's
    grey levels (quality's measure, and liveness's choice of the best frame)."""
    lap = cv2.Laplacian(np.asarray(gray_aligned, dtype=np.float32), cv2.CV_32F, ksize=3)
    return float(np.sqrt(lap[FACE_MASK].var()))


class Sharpness(Measure):
    """RMS of the Laplacian over the face region of the aligned crop (grey levels). Falls with
    defocus, motion blur and with faces too small for the crop (upsampled)."""

    name, unit, code = "sharpness", "grey_levels", "blurry"

    def compute(self, ctx):
        return face_sharpness(ctx.gray), {}

    def component(self, raw):
        return ramp(raw, 10.0, 60.0)

    def threshold(self, p):
        return p.min_sharpness


class Luminance(Measure):
    """Mean grey level of the face region (0-255): too low = dark, too high = washed out."""

    name, unit, code = "luminance_mean", "grey_levels", "too_dark"

    def compute(self, ctx):
        return float(ctx.gray[FACE_MASK].mean()), {}

    def component(self, raw):
        return min(ramp(raw, 25.0, 90.0), ramp(raw, 245.0, 190.0))

    def evaluate(self, ctx, profile):
        r = super().evaluate(ctx, profile)
        if r.assessed:
            lo, hi = profile.min_luminance, profile.max_luminance
            r.threshold = None
            r.detail["range"] = [lo, hi]
            too_dark = lo is not None and r.raw < lo
            too_bright = hi is not None and r.raw > hi
            r.passed = None if lo is None and hi is None else not (too_dark or too_bright)
            r.code = "too_bright" if too_bright else "too_dark"
        return r


class UnderExposure(Measure):
    """Share of face pixels darker than 40 (crushed shadows)."""

    name, unit, code = "under_exposure", "share", "too_dark"
    higher_is_better = False

    def compute(self, ctx):
        return float(np.mean(ctx.gray[FACE_MASK] < 40)), {}

    def component(self, raw):
        return ramp(raw, 0.3, 0.0)

    def threshold(self, p):
        return p.max_dark_share


class OverExposure(Measure):
    """Share of face pixels brighter than 245 (clipped highlights, glare)."""

    name, unit, code = "over_exposure", "share", "too_bright"
    higher_is_better = False

    def compute(self, ctx):
        return float(np.mean(ctx.gray[FACE_MASK] > 245)), {}

    def component(self, raw):
        return ramp(raw, 0.3, 0.02)

    def threshold(self, p):
        return p.max_bright_share


class IlluminationUniformity(Measure):
    """Mean grey level of the darker face half over the brighter half (1 = even)."""

    name, unit, code = "illumination_uniformity", "ratio", "uneven_light"

    def compute(self, ctx):
        left, right = float(ctx.gray[LEFT_HALF].mean()), float(ctx.gray[RIGHT_HALF].mean())
        if max(left, right) < 1.0:
            raise NotAssessable("face region is black")
        return min(left, right) / max(left, right), {"left": round(left, 1), "right": round(right, 1)}

    def component(self, raw):
        return ramp(raw, 0.3, 0.9)

    def threshold(self, p):
        return p.min_uniformity


class Compression(Measure):
    """JPEG blocking: mean grey step across the 8x8 grid lines of the original image over the
    mean step elsewhere, in the face box (1 = no blocking; > 1.5 visible blocks). Only meaningful
    on the grid of the last JPEG encoding: a resized image after compression reads ~1."""

    name, unit, code = "compression_blockiness", "ratio", "compression"
    higher_is_better = False

    def compute(self, ctx):
        x, y, w, h = (int(round(v)) for v in ctx.face.box)
        H, W = ctx.image.shape[:2]
        x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
        if x1 - x0 < 24 or y1 - y0 < 24:
            raise NotAssessable("face region smaller than 24x24 px")
        g = cv2.cvtColor(ctx.image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32)
        dx = np.abs(np.diff(g, axis=1))          # step between column j and j+1
        dy = np.abs(np.diff(g, axis=0))
        cols = (np.arange(x0, x1 - 1) % 8) == 7  # step across an 8-px block boundary
        rows = (np.arange(y0, y1 - 1) % 8) == 7
        on = dx[:, cols].mean() + dy[rows, :].mean()
        off = dx[:, ~cols].mean() + dy[~rows, :].mean()
        if off < 1e-3:
            raise NotAssessable("face region is flat")
        return float(on / off), {}

    def component(self, raw):
        return ramp(raw, 2.0, 1.1)

    def threshold(self, p):
        return p.max_blockiness


# -- facial (aligned crop / landmarks) ----------------------------------------------------------
class EyesOpen(Measure):
    """Smaller eye aspect ratio of the two eyes (see :mod:`idmatch.quality.eyes`)."""

    name, unit, code = "eyes_open", "ear", "eyes_not_visible"

    def compute(self, ctx):
        pts = ctx.landmarks68
        if pts is None:
            raise NotAssessable(ctx.landmarks68_error or "68-point landmarks unavailable")
        a, b = eye_aspect_ratios(pts)
        return min(a, b), {"ear_image_left": round(a, 3), "ear_image_right": round(b, 3)}

    def component(self, raw):
        return ramp(raw, 0.08, 0.25)

    def threshold(self, p):
        return p.min_eye_openness


class EyesVisible(Measure):
    """Median grey level of the two eye regions over that of the cheeks, on the aligned crop.
    Sunglasses, a cap's shadow or hair over the eyes make the eye regions far darker than the
    cheeks (< ~0.35); open, lit eyes read ~0.6-0.9. Blind to clear glasses and to closed eyes
    (see :class:`EyesOpen`)."""

    name, unit, code = "eyes_visible", "ratio", "eyes_not_visible"
    weight = 3.0  # the strongest single predictor of false non-matches on LFW (docs/quality.md)

    def compute(self, ctx):
        g = ctx.gray
        cheek = float(np.median(np.concatenate([g[r].ravel() for r in UPPER_FACE[:2]])))
        eyes = float(np.median(np.concatenate([g[r].ravel() for r in EYE_BOXES])))
        if cheek < 5.0:
            raise NotAssessable("cheek region is black")
        return eyes / (cheek + 1.0), {}

    def component(self, raw):
        return ramp(raw, 0.3, 0.9)

    def threshold(self, p):
        return p.min_eye_visibility


class DetectionConfidence(Measure):
    """The face detector's own score for the face (YuNet, 0-1): how face-like the crop looks.
    Occlusion, extreme expression, poor light and blur all lower it. No threshold of its own (the
    detector already applied one); it feeds the overall score."""

    name, unit, code = "detection_confidence", "score", "quality_too_low"
    weight = 3.0

    def compute(self, ctx):
        return float(ctx.face.score), {"detection_pass": ctx.detection_pass}

    def component(self, raw):
        return ramp(raw, 0.88, 0.95)


class LowerFaceOcclusion(Measure):
    """Texture of the mouth/chin region over that of the cheeks (gradient magnitude on the aligned
    crop). A mask, scarf or hand over the mouth is smoother than lips and chin: ratio < ~0.7."""

    name, unit, code = "lower_face_texture", "ratio", "face_covered"

    def compute(self, ctx):
        g = cv2.GaussianBlur(ctx.gray, (3, 3), 0)
        mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
        upper = float(np.mean([mag[r].mean() for r in UPPER_FACE[:2]]))
        lower = float(mag[LOWER_FACE].mean())
        return lower / (upper + 1.0), {}

    def component(self, raw):
        return ramp(raw, 0.4, 1.0)

    def threshold(self, p):
        return p.min_lower_face_texture


def default_measures() -> list[Measure]:
    return [FaceCount(), InterEyeDistance(), Resolution(), InsideFrame(), Yaw(), Pitch(), Roll(), Orientation(),
            Sharpness(), Luminance(), UnderExposure(), OverExposure(), IlluminationUniformity(),
            Compression(), EyesOpen(), EyesVisible(), LowerFaceOcclusion(), DetectionConfidence()]
