"""Duplicate-face gallery: one interface, four backends chosen by gallery size and database.

* :class:`ExactIndex` — numpy matrix product over every enrolled template (exact; small galleries).
* :class:`~idmatch.fraud.int8_index.Int8ExactIndex` — the same, with an int8 candidate scan in
  onnxruntime re-scored in float32 (exact in practice; large galleries off PostgreSQL).
* :class:`USearchIndex` — HNSW graph (usearch), persisted to a folder, incremental add and delete.
* :class:`PgVectorIndex` — pgvector's HNSW index inside PostgreSQL (in :mod:`idmatch.fraud.pgvector_index`).

Every backend stores ``(ref_id, identity_key, template)`` rows and is rebuildable from them
(:meth:`GalleryIndex.rebuild`), so the database stays the source of truth: an index file that is
missing, stale or corrupt is rebuilt from the stored (encrypted) templates at start-up
(:func:`open_or_rebuild`). Templates are L2-normalised SFace embeddings; scores are cosine.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ..errors import IdmatchError

log = logging.getLogger(__name__)

TEMPLATE_DIM = 128
#: candidates fetched beyond ``k`` so that excluding the probe's own identity (at most a few entries:
#: one per line it holds) still leaves ``k`` hits.
EXCLUDE_MARGIN = 16

Row = tuple[str, str, np.ndarray]   # (ref_id, identity_key, template)


class GalleryError(IdmatchError):
    code = "gallery_error"
    http_status = 500


@dataclass(frozen=True)
class Hit:
    ref_id: str          # the matched registration's reference: the only thing a clerk sees
    identity_key: str    # keyed hash of its document number (never shown; used to exclude self)
    score: float         # cosine similarity


def normalise(template: np.ndarray, dim: int = TEMPLATE_DIM) -> np.ndarray:
    t = np.asarray(template, dtype=np.float32).reshape(-1)
    if t.shape[0] != dim or not np.all(np.isfinite(t)):
        raise GalleryError(f"template must be {dim} finite floats, got shape {t.shape}", code="bad_template")
    n = float(np.linalg.norm(t))
    if n < 1e-12:
        raise GalleryError("template has zero norm", code="bad_template")
    return t / n


class GalleryIndex(ABC):
    """What the duplicate-face rule needs from an index. Implementations are thread-safe."""

    kind: str = ""
    dim: int = TEMPLATE_DIM

    @abstractmethod
    def add(self, ref_id: str, identity_key: str, template: np.ndarray) -> None:
        """Enrol one template; re-adding an existing ``ref_id`` replaces it."""

    def add_many(self, rows: Iterable[Row]) -> int:
        n = 0
        for ref_id, key, t in rows:
            self.add(ref_id, key, t)
            n += 1
        return n

    @abstractmethod
    def remove(self, ref_id: str) -> bool:
        """Forget a template (erasure); True if it was there."""

    @abstractmethod
    def search(self, template: np.ndarray, k: int = 10, exclude_identity: str | None = None) -> list[Hit]:
        """Top-``k`` most similar enrolled templates, best first, skipping ``exclude_identity``."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __contains__(self, ref_id: str) -> bool: ...

    @abstractmethod
    def clear(self) -> None: ...

    @abstractmethod
    def save(self, path: str | Path) -> None:
        """Persist so that :meth:`load` restores the same contents (a no-op for in-database backends)."""

    def rebuild(self, rows: Iterable[Row]) -> int:
        """Replace the contents with ``rows`` (e.g. streamed and decrypted from the database)."""
        self.clear()
        return self.add_many(rows)

    @staticmethod
    def _finish(hits: Iterator[Hit], k: int, exclude_identity: str | None) -> list[Hit]:
        out = []
        for h in hits:
            if exclude_identity is not None and h.identity_key == exclude_identity:
                continue
            out.append(h)
            if len(out) == k:
                break
        return out


# ---------------------------------------------------------------------------------------------
class ExactIndex(GalleryIndex):
    """Brute force: one float32 matrix product per query. Exact, O(N·d) per search.

    ``threads`` > 1 splits the matrix into that many row blocks scored in parallel (numpy releases the
    GIL in the product), each keeping its own top candidates, merged at the end: the latency of a
    1 M gallery over 4 cores is that of a 250 k one (docs/fraud.md)."""

    kind = "exact"
    MIN_BLOCK = 50_000   # below this a thread costs more than it saves

    def __init__(self, dim: int = TEMPLATE_DIM, capacity: int = 1024, threads: int = 1):
        self.dim = dim
        self.threads = max(1, int(threads))
        self._pool = None
        self._m = np.zeros((max(capacity, 1), dim), dtype=np.float32)
        self._refs: list[str] = []
        self._keys: list[str] = []
        self._pos: dict[str, int] = {}
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._refs)

    def __contains__(self, ref_id: str) -> bool:
        return ref_id in self._pos

    def _grow(self, need: int) -> None:
        if need > self._m.shape[0]:
            m = np.zeros((max(need, 2 * self._m.shape[0]), self.dim), dtype=np.float32)
            m[: len(self._refs)] = self._m[: len(self._refs)]
            self._m = m

    def add(self, ref_id: str, identity_key: str, template: np.ndarray) -> None:
        t = normalise(template, self.dim)
        with self._lock:
            i = self._pos.get(ref_id)
            if i is None:
                i = len(self._refs)
                self._grow(i + 1)
                self._refs.append(ref_id)
                self._keys.append(identity_key)
                self._pos[ref_id] = i
            self._keys[i] = identity_key
            self._m[i] = t

    def add_many(self, rows: Iterable[Row]) -> int:
        rows = list(rows)
        if not rows:
            return 0
        with self._lock:
            if not self._refs and len({r[0] for r in rows}) == len(rows):   # bulk path
                m = np.stack([normalise(t, self.dim) for _, _, t in rows])
                self._grow(len(rows))
                self._m[: len(rows)] = m
                self._refs = [r[0] for r in rows]
                self._keys = [r[1] for r in rows]
                self._pos = {r: i for i, r in enumerate(self._refs)}
                return len(rows)
            return super().add_many(rows)

    def add_matrix(self, ref_ids: list[str], identity_keys: list[str], templates: np.ndarray) -> None:
        """Bulk load of already-normalised templates (benchmarks, rebuilds of large galleries)."""
        with self._lock:
            self.clear()
            self._grow(len(ref_ids))
            self._m[: len(ref_ids)] = np.asarray(templates, dtype=np.float32)
            self._refs, self._keys = list(ref_ids), list(identity_keys)
            self._pos = {r: i for i, r in enumerate(self._refs)}

    def remove(self, ref_id: str) -> bool:
        with self._lock:
            i = self._pos.pop(ref_id, None)
            if i is None:
                return False
            last = len(self._refs) - 1
            if i != last:   # move the last row into the hole
                self._m[i] = self._m[last]
                self._refs[i], self._keys[i] = self._refs[last], self._keys[last]
                self._pos[self._refs[i]] = i
            self._m[last] = 0
            self._refs.pop()
            self._keys.pop()
            return True

    def clear(self) -> None:
        with self._lock:
            self._m[:] = 0
            self._refs, self._keys, self._pos = [], [], {}

    def search(self, template: np.ndarray, k: int = 10, exclude_identity: str | None = None) -> list[Hit]:
        q = normalise(template, self.dim)
        with self._lock:
            n = len(self._refs)
            if n == 0 or k <= 0:
                return []
            kk = min(n, k + (EXCLUDE_MARGIN if exclude_identity is not None else 0))
            rows, scores = self._top(q, n, kk)
            hits = [Hit(self._refs[i], self._keys[i], float(s)) for i, s in zip(rows, scores)]
            out = self._finish(iter(hits), k, exclude_identity)
            if len(out) < k and kk < n and exclude_identity is not None:   # many entries of one identity
                out = self._top_excluding(q, n, k, exclude_identity)
            return out

    def _top(self, q: np.ndarray, n: int, kk: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``kk`` best rows of ``[0, n)``, best first, and their exact float32 scores."""
        if self.threads > 1 and n >= 2 * self.MIN_BLOCK:
            scores, top = self._blocked(q, n, kk)
        else:
            scores = self._m[:n] @ q
            top = np.argpartition(-scores, kk - 1)[:kk] if kk < n else np.arange(n)
        top = top[np.argsort(-scores[top], kind="stable")]
        return top, scores[top]

    def _top_excluding(self, q: np.ndarray, n: int, k: int, exclude_identity: str) -> list[Hit]:
        """Full scan skipping one identity: for a probe whose identity holds more than EXCLUDE_MARGIN entries."""
        mask = np.array([key != exclude_identity for key in self._keys[:n]])
        s = np.where(mask, self._m[:n] @ q, -np.inf)
        top = np.argsort(-s, kind="stable")[: min(k, int(mask.sum()))]
        return [Hit(self._refs[i], self._keys[i], float(s[i])) for i in top]

    def _blocked(self, q: np.ndarray, n: int, kk: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and candidate rows from ``threads`` row blocks scored in parallel."""
        from concurrent.futures import ThreadPoolExecutor

        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="exact-index")
        scores = np.empty(n, dtype=np.float32)
        edges = np.linspace(0, n, min(self.threads, n // self.MIN_BLOCK) + 1).astype(int)

        def part(lo: int, hi: int) -> np.ndarray:
            np.matmul(self._m[lo:hi], q, out=scores[lo:hi])
            b = min(kk, hi - lo)
            return lo + np.argpartition(-scores[lo:hi], b - 1)[:b]

        cand = np.concatenate(list(self._pool.map(part, edges[:-1], edges[1:])))
        return scores, cand

    def matrix(self) -> np.ndarray:
        """The enrolled templates (a view; benchmarks and exact ground truth)."""
        return self._m[: len(self._refs)]

    def save(self, path: str | Path) -> None:
        path = Path(path)
        with self._lock:
            _atomic_dir(path, lambda d: np.savez(d / "exact.npz", templates=self.matrix(),
                                                 ref_ids=np.array(self._refs, dtype=object),
                                                 identity_keys=np.array(self._keys, dtype=object)),
                        {"kind": self.kind, "dim": self.dim, "count": len(self)})

    @classmethod
    def load(cls, path: str | Path, threads: int = 1) -> "ExactIndex":
        meta = read_meta(path, cls.kind)
        z = np.load(Path(path) / "exact.npz", allow_pickle=True)
        idx = cls(dim=meta["dim"], capacity=len(z["ref_ids"]), threads=threads)
        idx.add_matrix(list(z["ref_ids"]), list(z["identity_keys"]), z["templates"])
        return idx


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HnswParams:
    """HNSW settings. Defaults measured in ``benchmarks/fraud_index.py`` (docs/fraud.md)."""

    connectivity: int = 32       # M: graph degree (m=32 beat m=16 by 20-35 recall points on SFace templates)
    expansion_add: int = 128     # ef_construction
    expansion_search: int = 1024  # ef_search (M=16 at 300 k: 87 % recall@10, 97.7 % mate recall, 19 ms CPU p99)
    dtype: str = "f32"           # "f16" halves memory at a small recall cost


class USearchIndex(GalleryIndex):
    """HNSW over inner product (templates are unit length) with usearch; persisted to a folder."""

    kind = "usearch"

    def __init__(self, dim: int = TEMPLATE_DIM, params: HnswParams = HnswParams(), threads: int = 1):
        try:
            from usearch.index import Index
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise GalleryError("the usearch backend needs `pip install idmatch[index]`", code="config_error") from exc
        self.dim, self.params, self.threads = dim, params, threads
        self._Index = Index
        self._index = self._new()
        self._meta: dict[int, tuple[str, str]] = {}   # usearch key -> (ref_id, identity_key)
        self._key_of: dict[str, int] = {}
        self._next = 1
        self._lock = threading.RLock()

    def _new(self):
        p = self.params
        return self._Index(ndim=self.dim, metric="ip", dtype=p.dtype, connectivity=p.connectivity,
                           expansion_add=p.expansion_add, expansion_search=p.expansion_search)

    def __len__(self) -> int:
        return len(self._meta)

    def __contains__(self, ref_id: str) -> bool:
        return ref_id in self._key_of

    def add(self, ref_id: str, identity_key: str, template: np.ndarray) -> None:
        t = normalise(template, self.dim)
        with self._lock:
            if ref_id in self._key_of:
                self.remove(ref_id)
            key = self._next
            self._next += 1
            self._index.add(key, t, threads=1)
            self._meta[key] = (ref_id, identity_key)
            self._key_of[ref_id] = key

    def add_many(self, rows: Iterable[Row]) -> int:
        rows = list(rows)
        if not rows:
            return 0
        refs = [r[0] for r in rows]
        if any(r in self._key_of for r in refs) or len(set(refs)) != len(refs):
            return super().add_many(rows)
        m = np.stack([normalise(t, self.dim) for _, _, t in rows])
        self.add_matrix(refs, [r[1] for r in rows], m)
        return len(rows)

    def add_matrix(self, ref_ids: list[str], identity_keys: list[str], templates: np.ndarray,
                   progress: bool = False) -> None:
        """Bulk insert of normalised templates using ``self.threads`` threads."""
        with self._lock:
            keys = np.arange(self._next, self._next + len(ref_ids), dtype=np.uint64)
            self._index.add(keys, np.asarray(templates, dtype=np.float32), threads=self.threads, log=progress)
            for k, r, i in zip(keys.tolist(), ref_ids, identity_keys):
                self._meta[k] = (r, i)
                self._key_of[r] = k
            self._next += len(ref_ids)

    def remove(self, ref_id: str) -> bool:
        with self._lock:
            key = self._key_of.pop(ref_id, None)
            if key is None:
                return False
            self._index.remove(key)
            del self._meta[key]
            return True

    def clear(self) -> None:
        with self._lock:
            self._index = self._new()
            self._meta, self._key_of, self._next = {}, {}, 1

    def search(self, template: np.ndarray, k: int = 10, exclude_identity: str | None = None,
               expansion: int | None = None) -> list[Hit]:
        q = normalise(template, self.dim)
        with self._lock:
            if not self._meta or k <= 0:
                return []
            if expansion is not None:
                self._index.expansion_search = expansion
            want = k + (EXCLUDE_MARGIN if exclude_identity is not None else 0)
            m = self._index.search(q, min(want, len(self._meta)), threads=1)
            hits = (Hit(*self._meta[int(key)], float(1.0 - d)) for key, d in zip(m.keys, m.distances)
                    if int(key) in self._meta)
            return self._finish(hits, k, exclude_identity)

    def search_keys(self, queries: np.ndarray, k: int) -> np.ndarray:
        """Raw batched search returning usearch keys (benchmark recall)."""
        return self._index.search(np.asarray(queries, dtype=np.float32), k, threads=self.threads).keys

    def memory_bytes(self) -> int:
        return int(self._index.memory_usage)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        with self._lock:
            refs = sorted(self._meta)

            def write(d: Path) -> None:
                self._index.save(str(d / "hnsw.usearch"))
                np.savez(d / "keys.npz", keys=np.array(refs, dtype=np.uint64),
                         ref_ids=np.array([self._meta[k][0] for k in refs], dtype=object),
                         identity_keys=np.array([self._meta[k][1] for k in refs], dtype=object))

            _atomic_dir(path, write, {"kind": self.kind, "dim": self.dim, "count": len(self),
                                      "next": self._next, "params": self.params.__dict__})

    @classmethod
    def load(cls, path: str | Path, threads: int = 1) -> "USearchIndex":
        meta = read_meta(path, cls.kind)
        idx = cls(dim=meta["dim"], params=HnswParams(**meta["params"]), threads=threads)
        idx._index.load(str(Path(path) / "hnsw.usearch"))
        z = np.load(Path(path) / "keys.npz", allow_pickle=True)
        for k, r, i in zip(z["keys"].tolist(), z["ref_ids"], z["identity_keys"]):
            idx._meta[int(k)] = (str(r), str(i))
            idx._key_of[str(r)] = int(k)
        idx._next = int(meta["next"])
        if len(idx._index) != len(idx._meta):
            raise GalleryError(f"{path}: index holds {len(idx._index)} vectors but {len(idx._meta)} keys",
                               code="gallery_corrupt")
        return idx


# ---------------------------------------------------------------------------------------------
META = "gallery.json"


def read_meta(path: str | Path, kind: str | None = None) -> dict:
    f = Path(path) / META
    try:
        meta = json.loads(f.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise GalleryError(f"no readable gallery index at {path}: {exc}", code="gallery_missing") from exc
    if kind is not None and meta.get("kind") != kind:
        raise GalleryError(f"{path} holds a {meta.get('kind')!r} index, not {kind!r}", code="gallery_corrupt")
    return meta


def _atomic_dir(path: Path, write: Callable[[Path], None], meta: dict) -> None:
    """Write into a sibling temp folder, then swap it in, so a crash never leaves half an index."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        write(tmp)
        (tmp / META).write_text(json.dumps(meta))
        old = path.with_name(f".{path.name}.old")
        if path.exists():
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
        os.replace(tmp, path)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def load_index(path: str | Path, threads: int = 1) -> GalleryIndex:
    """Load a saved exact, exact-int8 or usearch index, whichever kind the folder holds."""
    kind = read_meta(path).get("kind")
    if kind == "exact-int8":
        from .int8_index import Int8ExactIndex

        return Int8ExactIndex.load(path, threads=threads)
    if kind == ExactIndex.kind:
        return ExactIndex.load(path, threads=threads)
    if kind == USearchIndex.kind:
        return USearchIndex.load(path, threads=threads)
    raise GalleryError(f"{path}: unknown index kind {kind!r}", code="gallery_corrupt")


def open_or_rebuild(path: str | Path, make: Callable[[], GalleryIndex], rows: Callable[[], Iterable[Row]],
                    expected_count: int | None = None) -> GalleryIndex:
    """Start-up: load the saved index if it is readable and holds ``expected_count`` entries (the
    database's count of enrolled templates); otherwise rebuild it from ``rows()`` and save it."""
    try:
        idx = load_index(path)
        if expected_count is None or len(idx) == expected_count:
            return idx
        log.warning("gallery index at %s holds %d entries, database %d: rebuilding", path, len(idx), expected_count)
    except GalleryError as err:
        log.info("gallery index not loaded (%s): rebuilding from the database", err.code)
    except Exception as exc:   # a corrupt file from a crash: the database is the source of truth
        log.warning("gallery index at %s unreadable (%s): rebuilding", path, type(exc).__name__)
    idx = make()
    n = idx.rebuild(rows())
    idx.save(path)
    log.info("rebuilt %s gallery index with %d entries", idx.kind, n)
    return idx
