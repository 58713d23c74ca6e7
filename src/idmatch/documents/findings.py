"""What a document check found, as a typed value the decision layer turns into a reason.

Each code has a default outcome (:data:`DEFAULT_OUTCOMES`); a policy may map any of them to another
outcome (review or reject by policy). Details hold codes, counts and which check failed — never a
document number, a name or a date of birth.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["pass", "info", "review", "fail"]

DEFAULT_OUTCOMES: dict[str, Outcome] = {
    # MRZ (documents.mrz)
    "mrz_consistent": "pass",
    "mrz_check_failed": "review",
    "mrz_number_mismatch": "review",
    "mrz_birth_date_mismatch": "review",
    "mrz_expiry_mismatch": "review",
    "document_expired": "fail",
    # e-passport chip, ICAO 9303 part 11 passive authentication (documents.chip)
    "chip_authenticated": "pass",
    "chip_hash_mismatch": "fail",
    "chip_signature_invalid": "fail",
    "csca_unknown": "review",
    "chip_data_malformed": "fail",
    "chip_data_unreadable": "review",
    # reader input (resident ID card reader)
    "reader_data_accepted": "info",
    "reader_number_mismatch": "review",
    "reader_birth_date_mismatch": "review",
    # photo substitution (chip portrait vs printed portrait)
    "portraits_agree": "pass",
    "portrait_substitution_suspected": "fail",
}


@dataclass(frozen=True)
class Finding:
    code: str
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def outcome(self) -> Outcome:
        return DEFAULT_OUTCOMES.get(self.code, "review")

    def to_dict(self) -> dict:
        return {"stage": "document", "code": self.code, "outcome": self.outcome, "message": self.message,
                "details": dict(self.details)}
