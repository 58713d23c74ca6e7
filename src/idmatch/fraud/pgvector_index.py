"""pgvector HNSW gallery inside PostgreSQL: the index lives (and survives restarts) with the data.

Table ``fraud_gallery(ref_id text primary key, identity_key text, embedding vector(128))`` with an
HNSW index over inner product (templates are unit length, so inner product = cosine). Adds and
deletes are ordinary rows in the caller's database, so enrolment is transactional with the
registration and erasure is a ``DELETE``; :meth:`PgVectorIndex.rebuild` reloads with ``COPY`` and
builds the HNSW index once (much faster than growing it row by row).

Needs ``psycopg`` (v3) and the ``vector`` extension (``idmatch[postgres]``; the ``pgserver`` wheel
ships PostgreSQL 16.2 + pgvector 0.6.2 for tests).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .gallery import EXCLUDE_MARGIN, TEMPLATE_DIM, GalleryError, GalleryIndex, Hit, Row, normalise


@dataclass(frozen=True)
class PgHnswParams:
    m: int = 32                  # pgvector's default 16 loses 20-35 recall points on SFace templates
    ef_construction: int = 128   # (default 64)
    ef_search: int = 400         # 100 k: recall@10 98.5 %, mate recall 99.9 %, 32 ms server CPU (docs/fraud.md)
    maintenance_work_mem: str = "1GB"   # the build is fast only while the graph fits in it


def _literal(t: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in t.tolist()) + "]"


class PgVectorIndex(GalleryIndex):
    kind = "pgvector"

    def __init__(self, engine: Engine, table: str = "fraud_gallery", dim: int = TEMPLATE_DIM,
                 params: PgHnswParams = PgHnswParams(), create: bool = True):
        if engine.dialect.name != "postgresql":
            raise GalleryError("the pgvector backend needs a PostgreSQL engine", code="config_error")
        if not table.isidentifier():
            raise GalleryError(f"bad table name {table!r}", code="config_error")
        self.engine, self.table, self.dim, self.params = engine, table, dim, params
        self._lock = threading.RLock()
        if create:
            self.create_schema()

    # -- schema ---------------------------------------------------------------------------------
    def create_schema(self) -> None:
        with self.engine.begin() as c:
            c.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector")
            c.exec_driver_sql(
                f"CREATE TABLE IF NOT EXISTS {self.table} (ref_id text PRIMARY KEY, identity_key text NOT NULL, "
                f"embedding vector({self.dim}) NOT NULL)")
            c.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {self.table}_identity ON {self.table} (identity_key)")
        self.create_hnsw()

    def create_hnsw(self) -> None:
        p = self.params
        with self.engine.begin() as c:
            c.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{p.maintenance_work_mem}'")
            c.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS {self.table}_hnsw ON {self.table} USING hnsw (embedding vector_ip_ops) "
                f"WITH (m = {int(p.m)}, ef_construction = {int(p.ef_construction)})")

    def drop_hnsw(self) -> None:
        with self.engine.begin() as c:
            c.exec_driver_sql(f"DROP INDEX IF EXISTS {self.table}_hnsw")

    # -- interface ------------------------------------------------------------------------------
    def __len__(self) -> int:
        with self.engine.connect() as c:
            return int(c.exec_driver_sql(f"SELECT count(*) FROM {self.table}").scalar_one())

    def __contains__(self, ref_id: str) -> bool:
        with self.engine.connect() as c:
            return c.execute(sa.text(f"SELECT 1 FROM {self.table} WHERE ref_id = :r"), {"r": ref_id}).first() is not None

    def add(self, ref_id: str, identity_key: str, template: np.ndarray, conn: sa.Connection | None = None) -> None:
        """Upsert one template; pass ``conn`` to enrol inside the caller's registration transaction."""
        t = normalise(template, self.dim)
        sql = sa.text(f"INSERT INTO {self.table} (ref_id, identity_key, embedding) VALUES (:r, :k, CAST(:e AS vector)) "
                      "ON CONFLICT (ref_id) DO UPDATE SET identity_key = EXCLUDED.identity_key, embedding = EXCLUDED.embedding")
        params = {"r": ref_id, "k": identity_key, "e": _literal(t)}
        if conn is not None:
            conn.execute(sql, params)
            return
        with self.engine.begin() as c:
            c.execute(sql, params)

    def add_many(self, rows: Iterable[Row]) -> int:
        rows = list(rows)
        if not rows:
            return 0
        m = np.stack([normalise(t, self.dim) for _, _, t in rows])
        return self.copy_in([r[0] for r in rows], [r[1] for r in rows], m)

    def copy_in(self, ref_ids: list[str], identity_keys: list[str], templates: np.ndarray, progress: bool = False) -> int:
        """Bulk load with binary ``COPY`` (rows must be new). Templates must be unit length."""
        from pgvector.psycopg import register_vector
        from tqdm import tqdm

        templates = np.asarray(templates, dtype=np.float32)
        raw = self.engine.raw_connection()
        try:
            pconn = raw.driver_connection
            register_vector(pconn)
            with pconn.cursor() as cur:
                with cur.copy(f"COPY {self.table} (ref_id, identity_key, embedding) FROM STDIN WITH (FORMAT BINARY)") as cp:
                    cp.set_types(["text", "text", "vector"])
                    for r, k, t in tqdm(zip(ref_ids, identity_keys, templates), total=len(ref_ids), disable=not progress,
                                        desc="COPY", unit="row", mininterval=2.0):
                        cp.write_row((r, k, t))
            pconn.commit()
        finally:
            raw.close()
        return len(ref_ids)

    def remove(self, ref_id: str, conn: sa.Connection | None = None) -> bool:
        sql = sa.text(f"DELETE FROM {self.table} WHERE ref_id = :r")
        if conn is not None:
            return conn.execute(sql, {"r": ref_id}).rowcount > 0
        with self.engine.begin() as c:
            return c.execute(sql, {"r": ref_id}).rowcount > 0

    def clear(self) -> None:
        with self.engine.begin() as c:
            c.exec_driver_sql(f"TRUNCATE {self.table}")

    def rebuild(self, rows: Iterable[Row]) -> int:
        """Drop the HNSW index, reload the rows, build the index once."""
        self.drop_hnsw()
        n = super().rebuild(rows)
        self.create_hnsw()
        return n

    def search(self, template: np.ndarray, k: int = 10, exclude_identity: str | None = None,
               ef_search: int | None = None) -> list[Hit]:
        q = _literal(normalise(template, self.dim))
        want = k + (EXCLUDE_MARGIN if exclude_identity is not None else 0)
        ef = max(int(ef_search or self.params.ef_search), want)
        with self.engine.begin() as c:
            c.exec_driver_sql(f"SET LOCAL hnsw.ef_search = {ef}")
            rows = c.execute(sa.text(
                f"SELECT ref_id, identity_key, -(embedding <#> CAST(:q AS vector)) AS score FROM {self.table} "
                f"ORDER BY embedding <#> CAST(:q AS vector) LIMIT :n"), {"q": q, "n": want}).all()
        return self._finish((Hit(r, i, float(s)) for r, i, s in rows), k, exclude_identity)

    def save(self, path: str | Path | None = None) -> None:
        """Nothing to do: rows and the HNSW index are durable in PostgreSQL."""

    def size_bytes(self) -> dict[str, int]:
        with self.engine.connect() as c:
            heap = c.exec_driver_sql(f"SELECT pg_table_size('{self.table}')").scalar_one()
            hnsw = c.exec_driver_sql(f"SELECT coalesce(pg_relation_size(to_regclass('{self.table}_hnsw')), 0)").scalar_one()
        return {"table": int(heap), "hnsw": int(hnsw)}
