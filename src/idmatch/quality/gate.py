"""The quality gate in front of matching: refuse images whose quality is below the floor."""
from __future__ import annotations

from ..errors import QualityTooLowError


def require_quality(engine, images: dict, profiles: dict[str, str] | None = None) -> dict:
    """Assess each ``{role: image}`` (role ``id`` uses the portrait profile, anything else live)
    and raise :class:`QualityTooLowError` if any image is below its floor: overall quality under
    the profile's ``min_overall``, or a blocking rejection (``multiple_faces``, ``image_rotated``).

    Capture-guidance rejections alone (e.g. a portrait at 28 degrees of yaw) do not stop a
    comparison; they are in each report's ``feedback``. An image with no face at all is left to
    the matcher, which reports ``no_face`` itself. Returns ``{role: QualityReport}`` when all
    pass; ``details.rejections`` of the error lists ``{image, code, measure, message}`` for every
    rejection of each refused image.
    """
    from .assess import assess

    reports = {role: assess(engine, image, profile=(profiles or {}).get(role) or ("portrait" if role == "id" else "live"))
               for role, image in images.items()}
    err = gate_error(reports)
    if err is not None:
        raise err
    return reports


def gate_error(reports: dict) -> QualityTooLowError | None:
    """The :class:`QualityTooLowError` for ``{role: QualityReport}``, or None when every image is above its floor."""
    from .feedback import message_for

    rejections = []
    for role, rep in reports.items():
        if rep.face_box is None or rep.above_floor:
            continue  # no face: matching raises its own NoFaceError (code no_face) for this image
        items = [{"image": role, **fb.to_dict()} for fb in rep.feedback]
        if rep.overall < rep.floor and "quality_too_low" not in rep.codes:
            items.append({"image": role, "code": "quality_too_low", "measure": "overall",
                          "message": message_for("quality_too_low", rep.profile)})
        rejections += items
    if rejections:
        text = "; ".join(f"{r['image']} image: {r['message']} [{r['code']}]" for r in rejections)
        return QualityTooLowError(f"image quality below the floor -- {text}",
                                  details={"rejections": rejections,
                                           "overall": {k: round(v.overall, 1) for k, v in reports.items()}})
    return None
