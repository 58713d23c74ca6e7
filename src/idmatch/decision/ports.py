"""What the stages need from storage, as protocols; the service implements them over its ``Store``
(:mod:`idmatch.service.ports`). ``tx`` is the caller's open transaction, passed through untouched so
an enrolment or an erasure commits with the decision that caused it."""
from __future__ import annotations

from typing import Any, Iterable, Protocol

import numpy as np

from ..fraud.dedup import DedupPolicy, DedupResult


class LineRegister(Protocol):
    def count_active_lines(self, id_hash: str) -> int:
        """Active lines held under one identity (keyed hash of the document)."""

    def activate_line(self, tx: Any, id_hash: str, session_id: str) -> None:
        """Record the line an approved registration activates."""


class FaceGallery(Protocol):
    """The duplicate-face gallery: one template per approved registration."""
    policy: DedupPolicy

    def search(self, template: np.ndarray, id_hash: str) -> DedupResult:
        """Candidates at or above ``policy.threshold`` under identities other than ``id_hash``."""

    def confirm(self, refs: list[str]) -> set[str]:
        """The refs still approved in the system of record; any other is dropped from the gallery."""

    def enrol(self, tx: Any, ref: str, id_hash: str, template: np.ndarray) -> None: ...

    def erase(self, tx: Any, refs: Iterable[str]) -> None: ...
