"""Which gallery backend to use, from the gallery size (figures in docs/fraud.md).

Exact search on every database: float32 up to ``EXACT_MAX`` templates, and above it the int8
candidate scan with float32 re-scoring (:class:`~idmatch.fraud.int8_index.Int8ExactIndex`) — at 1 M
templates 100 % recall@10 at 15 ms median on one core, where usearch HNSW reached 89 % and pgvector
HNSW 89.8 %. It needs only onnxruntime (a core dependency). Each worker holds the whole gallery in
process; on PostgreSQL the ``gallery_changes`` feed keeps every worker's copy current
(:class:`~idmatch.service.ports.StoreGallery`), which is what made exact search safe for several
workers (issue 14). pgvector and usearch stay available by name.
"""
from __future__ import annotations

from typing import Literal

from .gallery import TEMPLATE_DIM, ExactIndex, GalleryError, GalleryIndex, HnswParams, USearchIndex

Backend = Literal["auto", "exact", "exact-int8", "usearch", "pgvector"]

#: largest gallery served by float32 exact search alone: 64 ms median per query at 1 M on one quiet
#: core (linear in N), so ~13 ms at 200 k; above it the int8 scan does the heavy lifting
EXACT_MAX = 200_000


def choose_backend(gallery_size: int, dialect: str | None = None) -> str:
    """``dialect`` no longer changes the choice (PostgreSQL chose pgvector before the change feed)."""
    return "exact" if gallery_size <= EXACT_MAX else "exact-int8"


def make_index(backend: Backend = "auto", gallery_size: int = 0, engine=None, dim: int = TEMPLATE_DIM,
               hnsw: HnswParams = HnswParams(), threads: int = 1) -> GalleryIndex:
    """An empty index of the chosen backend (``engine``: the service's SQLAlchemy engine, for pgvector)."""
    if backend == "auto":
        backend = choose_backend(gallery_size, engine.dialect.name if engine is not None else None)  # type: ignore[assignment]
    if backend == "exact":
        return ExactIndex(dim=dim, capacity=max(1024, gallery_size), threads=threads)
    if backend == "exact-int8":
        from .int8_index import Int8ExactIndex

        return Int8ExactIndex(dim=dim, capacity=1024, threads=threads)
    if backend == "usearch":
        return USearchIndex(dim=dim, params=hnsw, threads=threads)
    if backend == "pgvector":
        if engine is None:
            raise GalleryError("the pgvector backend needs the service's PostgreSQL engine", code="config_error")
        from .pgvector_index import PgVectorIndex

        return PgVectorIndex(engine, dim=dim)
    raise GalleryError(f"unknown gallery backend {backend!r}", code="config_error")
