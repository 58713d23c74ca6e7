"""What the stages need from storage, as protocols; the service implements them over its ``Store``
(:mod:`idmatch.service.ports`). ``tx`` is the caller's open transaction, passed through untouched so
an enrolment or an erasure commits with the decision that caused it."""
from __future__ import annotations

from typing import Any, Iterable, Protocol

import numpy as np

from ..fraud.dedup import DedupPolicy, DedupResult


class LineRegister(Protocol):
    def lock_identity(self, tx: Any, id_hash: str) -> None:
        """Serialise decisions for one identity until ``tx`` ends: a second decision for the same document
        waits here until the first has committed its line (or rolled back)."""

    def count_active_lines(self, id_hash: str, tx: Any = None) -> int:
        """Active lines held under one identity (keyed hash of the document), read in ``tx`` if given."""

    def activate_line(self, tx: Any, id_hash: str, session_id: str) -> None:
        """Record the line an approved registration activates."""


class FaceGallery(Protocol):
    """The duplicate-face gallery: one template per approved registration."""
    policy: DedupPolicy

    def lock(self, tx: Any) -> None:
        """Serialise search-then-enrol across decisions until ``tx`` ends: two registrations of one face under
        two documents cannot both search before either has enrolled."""

    def search(self, template: np.ndarray, id_hash: str) -> DedupResult:
        """Candidates at or above ``policy.threshold`` under identities other than ``id_hash``."""

    def confirm(self, refs: list[str], tx: Any = None) -> set[str]:
        """The refs still approved in the system of record (read in ``tx`` if given); any other is dropped
        from the gallery."""

    def enrol(self, tx: Any, ref: str, id_hash: str, template: np.ndarray) -> None: ...

    def erase(self, tx: Any, refs: Iterable[str]) -> None: ...
