"""Photo substitution: the chip portrait (signed by the issuer, or read by a licensed reader) against
the portrait printed on the document page. A printed photo that is not the chip's person means the
page was altered (or belongs to someone else): a fraud reason.

Uses the face engine's own 1:1 comparison at the policy's false-match rate, so the threshold and what
it means travel with the score.
"""
from __future__ import annotations

from .findings import Finding


def compare_portraits(engine, chip_portrait: bytes, printed_photo, *, fmr: float, printed_is_template: bool = False) -> Finding:
    """``portraits_agree`` when the printed portrait matches the chip portrait at ``fmr``, else
    ``portrait_substitution_suspected``. ``printed_photo``: image bytes, or the template of a page
    photo analysed earlier (``printed_is_template``). Bad images raise the engine's errors."""
    chip = engine.analyze(chip_portrait, role="portrait")
    printed = printed_photo if printed_is_template else engine.analyze(printed_photo, role="portrait")
    score, threshold, same = engine.compare(chip, printed, fmr)
    details = {"score": round(float(score), 4), "threshold": round(float(threshold), 4), "fmr": fmr,
               "calibration": engine.calibration.name, "model": engine.model_id}
    if same:
        return Finding("portraits_agree", "the printed portrait matches the chip portrait", details)
    return Finding("portrait_substitution_suspected", "the printed portrait is not the chip portrait's face", details)
