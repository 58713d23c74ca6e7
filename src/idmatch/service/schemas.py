"""Request and response models (the OpenAPI schema at /docs comes from these)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ROLE = Literal["clerk", "reviewer", "auditor", "admin"]

# Consent can be neither in the far past nor anywhere the UTC conversion overflows (year 1 / 9999 with an
# offset): a bound at the boundary instead of an OverflowError deep in the session code (issue 14).
CONSENT_EARLIEST = dt.datetime(2000, 1, 1)


class InputModel(BaseModel):
    """Request bodies: unknown fields refused, and no NUL characters in any text (PostgreSQL cannot
    store them; without this a NUL in a label or reason was a psycopg DataError → 500)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, v):
        if isinstance(v, str) and "\x00" in v:
            raise ValueError("NUL characters are not accepted")
        return v


def iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.isoformat(timespec="seconds") + "Z"


class DocumentIn(InputModel):
    type: str = Field(..., min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$", examples=["resident_id"])
    number: str = Field(..., min_length=1, max_length=64, description="never stored in clear: only an HMAC of it is kept")


class ConsentIn(InputModel):
    text_version: str = Field(..., min_length=1, max_length=64, examples=["consent-2025-01"])
    given_at: dt.datetime = Field(..., description="when the applicant consented (ISO 8601; no offset means UTC); "
                                                   "from 2000-01-01, not in the future")
    channel: str = Field(..., min_length=1, max_length=32, examples=["store"])

    @field_validator("given_at", mode="after")
    @classmethod
    def _utc(cls, v: dt.datetime) -> dt.datetime:
        """Normalised to naive UTC here, where an out-of-range offset is a 422, not an OverflowError later."""
        if v.tzinfo is not None:
            try:
                v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
            except (OverflowError, ValueError):
                raise ValueError("consent time out of range") from None
        if v < CONSENT_EARLIEST:
            raise ValueError(f"consent time before {CONSENT_EARLIEST.date()}")
        return v


class SessionCreate(InputModel):
    document: DocumentIn
    consent: ConsentIn
    liveness_mode: Literal["auto", "passive", "active"] = "auto"


class ChallengeOut(BaseModel):
    nonce: str
    mode: Literal["passive", "active"]
    actions: list[Any] = []
    instructions: list[str] = []
    deadline: str
    prompt_at: list[float] | None = Field(None, description="active: seconds after the capture starts at which each "
                                                            "step must be prompted (drawn by the server)")
    capture_s: float | None = Field(None, description="active: seconds to capture, at 10 frames/s")


class AttemptsOut(BaseModel):
    used: int
    max: int


class LastAttemptOut(BaseModel):
    codes: list[str]
    messages: list[str]
    counted: bool = Field(True, description="false: the attempt was lost to lateness, not failed by the applicant")


class ReasonOut(BaseModel):
    stage: str
    code: str
    outcome: Literal["pass", "info", "review", "fail"]
    message: str = ""
    details: dict[str, Any] = {}


class ReviewOut(BaseModel):
    outcome: str
    reason: str
    reviewer_key_id: str | None
    reviewed_at: str | None


class PortraitFaceOut(BaseModel):
    box: list[float] = Field(..., description="x, y, width, height of the face found, in the pixels of `image_size`")
    image_size: list[int] = Field(..., description="width, height of the image the box refers to (upright, as analysed)")
    rotation: int = Field(0, description="degrees the upload was turned clockwise to find the face")


class SessionOut(BaseModel):
    id: str
    status: str
    document_type: str
    created_at: str
    expires_at: str
    challenge: ChallengeOut
    attempts: AttemptsOut | None = None
    last_attempt: LastAttemptOut | None = Field(None, description="why the previous challenge failed (a fresh one is in `challenge`)")
    decision: str | None = None
    reasons: list[ReasonOut] = []
    decided_at: str | None = None
    review: ReviewOut | None = None
    portrait_face: PortraitFaceOut | None = Field(
        None, description="only in the answer to the portrait upload that was analysed: where the face was found, so "
                          "the terminal can show the clerk which face was cut from a document photo (not stored)")


class ReviewIn(InputModel):
    outcome: Literal["approved", "rejected"]
    reason: str = Field(..., min_length=5, max_length=2000)


class ReviewItem(BaseModel):
    id: str
    document_type: str
    created_at: str
    decided_at: str | None
    reasons: list[ReasonOut]


class KeyCreate(InputModel):
    role: ROLE
    label: str = Field("", max_length=200, description="operator / store / channel the key belongs to")
    scope: str | None = Field(None, max_length=64, description="clerk keys only: the store/operator whose sessions the "
                              "key creates and sees (letters, digits, . _ : -); none: the unscoped sessions")


class KeyOut(BaseModel):
    id: str
    role: str
    label: str
    scope: str | None = None
    created_at: str
    revoked_at: str | None = None


class KeyCreated(KeyOut):
    key: str = Field(..., description="the secret: shown once, store it now")


class EraseIn(InputModel):
    document: DocumentIn | None = None
    session_id: str | None = None


class EraseOut(BaseModel):
    sessions: int
    templates: int
    images: int
    lines: int


class AuditEventOut(BaseModel):
    seq: int
    ts: str
    type: str
    session_id: str | None
    actor: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class AuditVerifyOut(BaseModel):
    ok: bool
    events: int
    problems: list[str]
    anchored_seq: int | None = Field(None, description="the newest event the external anchor vouches for")
