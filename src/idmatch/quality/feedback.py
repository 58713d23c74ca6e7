"""Rejection codes and the human messages that say what to do about them.

Codes are stable (clients switch on them); messages are for the person in front of the camera
(``live``) or for the operator handling the ID document (``portrait``).
"""
from __future__ import annotations

from dataclasses import dataclass

# code -> (live message, portrait message or None to reuse the live one)
MESSAGES: dict[str, tuple[str, str | None]] = {
    "no_face": ("No face found: look straight at the camera with your whole face in view.",
                "No face found on the ID portrait: scan or photograph the portrait page again."),
    "multiple_faces": ("Only one person in view, please.",
                       "More than one face on the portrait image: crop to the holder's portrait."),
    "face_too_small": ("Move closer to the camera.",
                       "The ID portrait is too small: scan it at a higher resolution."),
    "face_cut_off": ("Move back and centre your face: all of it must be inside the frame.",
                     "The face is cut off at the edge: capture the whole ID portrait."),
    "image_rotated": ("Hold the camera upright: the image is rotated.",
                      "The ID image is rotated: turn it upright and capture it again."),
    "head_pose": ("Face the camera: look straight into the lens.",
                  "The portrait is not frontal: use the frontal ID photo."),
    "head_tilted": ("Hold your head upright, not tilted to the side.",
                    "The portrait is tilted: straighten the document when capturing it."),
    "blurry": ("Hold still: the image is blurred.",
               "The ID portrait is blurred: hold the document still and focus on it."),
    "too_dark": ("More light, please: face a window or a lamp.",
                 "The ID portrait is too dark: capture it in better light."),
    "too_bright": ("Too much light: move out of direct sunlight or glare.",
                   "The ID portrait is overexposed or has glare: tilt the document away from the light."),
    "uneven_light": ("Light your face evenly: face the light rather than having it to one side.",
                     "The ID portrait is unevenly lit: avoid shadows and glare across it."),
    "low_resolution": ("The image resolution is too low: move closer or use a better camera.",
                       "The ID image resolution is too low: scan it at a higher resolution."),
    "compression": ("The image is too heavily compressed: send the original photo.",
                    "The ID image is too heavily compressed: send the original scan."),
    "eyes_not_visible": ("Open your eyes and look at the camera; take off sunglasses.",
                         "The eyes are not visible on the ID portrait (glare or cover): capture it again."),
    "face_covered": ("Remove what covers the face (mask, scarf, hand).",
                     "The lower face on the ID portrait is covered or has glare: capture it again."),
}


@dataclass(frozen=True)
class Feedback:
    """One rejection: a stable ``code``, the ``measure`` that raised it, and what to do."""

    code: str
    measure: str
    message: str

    def to_dict(self) -> dict:
        return {"code": self.code, "measure": self.measure, "message": self.message}


def message_for(code: str, profile: str = "live") -> str:
    live, portrait = MESSAGES.get(code, (f"Image quality too low ({code}).", None))
    return portrait if profile == "portrait" and portrait else live

MESSAGES["quality_too_low"] = ("Image quality too low overall: face the camera in even light and hold still.",
                               "The ID portrait's quality is too low overall: capture it again, sharp and evenly lit.")
