"""Which gallery backend to use, from the gallery size and the database (figures in docs/fraud.md).

* PostgreSQL → pgvector HNSW inside the database: one source of truth, enrolment and erasure are
  transactional with the registration, nothing to rebuild at start-up.
* otherwise exact search up to ``EXACT_MAX`` templates (p99 under the 20 ms goal on one core as
  measured), usearch HNSW above it.
"""
from __future__ import annotations

from typing import Literal

from .gallery import TEMPLATE_DIM, ExactIndex, GalleryError, GalleryIndex, HnswParams, USearchIndex

Backend = Literal["auto", "exact", "usearch", "pgvector"]

#: largest gallery served by exact search: measured 70 ms CPU p99 per query at 1 M (linear in N),
#: and 18 ms median at 300 k; 200 k keeps p99 near the 20 ms goal on a core of its own
EXACT_MAX = 200_000


def choose_backend(gallery_size: int, dialect: str | None = None) -> str:
    if dialect == "postgresql":
        return "pgvector"
    return "exact" if gallery_size <= EXACT_MAX else "usearch"


def make_index(backend: Backend = "auto", gallery_size: int = 0, engine=None, dim: int = TEMPLATE_DIM,
               hnsw: HnswParams = HnswParams(), threads: int = 1) -> GalleryIndex:
    """An empty index of the chosen backend (``engine``: the service's SQLAlchemy engine, for pgvector)."""
    if backend == "auto":
        backend = choose_backend(gallery_size, engine.dialect.name if engine is not None else None)  # type: ignore[assignment]
    if backend == "exact":
        return ExactIndex(dim=dim, capacity=max(1024, gallery_size), threads=threads)
    if backend == "usearch":
        return USearchIndex(dim=dim, params=hnsw, threads=threads)
    if backend == "pgvector":
        if engine is None:
            raise GalleryError("the pgvector backend needs the service's PostgreSQL engine", code="config_error")
        from .pgvector_index import PgVectorIndex

        return PgVectorIndex(engine, dim=dim)
    raise GalleryError(f"unknown gallery backend {backend!r}", code="config_error")
