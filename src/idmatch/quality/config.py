"""Per-profile thresholds for the quality measures, with defaults that work with no config.

Each threshold is in the measure's *raw* unit (pixels, degrees, a ratio) and says where a
rejection starts; ``None`` switches the check off (the measure is still reported). Two
profiles ship: ``live`` (a frame from the applicant's camera) and ``portrait`` (an ID
portrait: the chip photo, which may be as small as 102x126, or a photo/scan of the document).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from ..errors import ConfigError


@dataclass(frozen=True)
class QualityProfile:
    name: str
    # geometry
    max_faces: int = 1                      # faces of comparable size allowed (1 = exactly one person)
    other_face_min_ratio: float = 0.25      # a second face counts when its area >= this x the main face
    min_inter_eye_px: float | None = 40.0   # inter-eye distance in the original image
    min_image_side: float | None = 240.0    # shorter side of the image
    min_inside_frame: float | None = 0.95   # share of the (margin-expanded) face box inside the image
    frame_margin: float = 0.15              # margin around the detector box that must also be inside
    max_yaw_deg: float | None = 30.0   # idmatch.pose (nose depth 0.6 IED); the 35° of the former 0.5-IED estimator
    max_pitch_deg: float | None = 20.0
    max_roll_deg: float | None = 20.0
    check_orientation: bool = True          # look for 90/180/270-degree rotated images
    # photometric (on the aligned 112x112 crop)
    min_sharpness: float | None = 20.0      # RMS Laplacian of the face region, grey levels
    min_luminance: float | None = 50.0      # mean face luminance (0-255)
    max_luminance: float | None = 215.0
    max_dark_share: float | None = 0.5      # share of face pixels below 40
    max_bright_share: float | None = 0.2    # share of face pixels above 245
    min_uniformity: float | None = 0.45     # darker/brighter half of the face, mean luminance
    max_blockiness: float | None = 2.0      # JPEG 8x8 block-edge gradient / in-block gradient
    # facial
    min_eye_visibility: float | None = 0.33  # eye-region over cheek grey level (sunglasses, shadow)
    min_eye_openness: float | None = 0.15   # smaller eye aspect ratio of the two eyes (dlib 68 points)
    min_lower_face_texture: float | None = 0.7  # mouth/chin texture over cheek texture
    # overall and the matching gate
    min_overall: float = 40.0               # overall score floor (0-100)
    # rejections that stop a comparison outright in the gate (require_quality / idmatch verify);
    # the others guide capture, and block matching only through the overall floor
    blocking_codes: tuple[str, ...] = ("multiple_faces", "image_rotated")

    def with_overrides(self, **overrides) -> "QualityProfile":
        unknown = set(overrides) - set(asdict(self))
        if unknown:
            raise ConfigError(f"unknown quality settings: {sorted(unknown)}")
        return replace(self, **overrides)

    def to_dict(self) -> dict:
        return asdict(self)


LIVE = QualityProfile(name="live")

PORTRAIT = QualityProfile(
    name="portrait",
    min_inter_eye_px=24.0,        # a 102x126 chip photo has ~30 px between the eyes
    min_image_side=100.0,
    min_inside_frame=0.85,        # chip photos are cropped tight around the head
    frame_margin=0.05,
    max_yaw_deg=21.0,             # ID photos are frontal by rule (ISO/IEC 39794-5); 25° of the former estimator
    max_pitch_deg=20.0,
    max_roll_deg=15.0,
    max_blockiness=2.2,           # chip JPEG/JPEG2000 is compressed hard by design
    min_overall=35.0,
)

PROFILES: dict[str, QualityProfile] = {"live": LIVE, "portrait": PORTRAIT}


def get_profile(profile: "str | QualityProfile") -> QualityProfile:
    if isinstance(profile, QualityProfile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise ConfigError(f"unknown quality profile {profile!r}; available: {sorted(PROFILES)}") from None
