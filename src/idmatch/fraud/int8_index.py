"""Exact search at operator scale: an int8 scan picks candidates, float32 re-scores them.

Scanning a million float32 templates reads 512 MB per query: memory-bound, ~40 ms on one core of
the reference machine. The same templates quantised to int8 are 128 MB (they fit a server's L3
cache), and onnxruntime's integer matrix product (MLAS, VNNI where the CPU has it) scans them with
the gallery pre-packed once. The int8 scores pick the best ``CANDIDATES`` rows; those are re-scored
in float32 and the top ``k`` returned with exact cosine scores. Quantisation moves a score by about
±0.002; the candidates reach far below the 10th best score, so the answer is exact search's in
practice — measured as recall@10 against float32 exact search in ``benchmarks/fraud_index.py`` and
asserted in the tests.

The pre-packed int8 copy is a *snapshot* ("frozen" rows ``[0, n_frozen)``). Enrolments after it, and
frozen rows changed since (a re-enrolment, or the row an erasure moved into a hole), are scanned in
float32 beside the int8 scan; a new snapshot is taken when those exceed ``refreeze_rows``. The float32
matrix (:class:`ExactIndex`) stays the truth: a stale snapshot can only cost speed, never a wrong score.

The ONNX graph (``MatMulInteger`` + ``TopK``, 387 bytes, no weights: the gallery is supplied at run
time) ships as ``idmatch/data/exact_int8.onnx``; ``training/build_exact_int8_onnx.py`` writes it.
"""
from __future__ import annotations

import logging
import threading
import time
from importlib import resources
from pathlib import Path

import numpy as np

from .gallery import TEMPLATE_DIM, ExactIndex, GalleryError

log = logging.getLogger(__name__)

MODEL_FILE = "exact_int8.onnx"


def model_path() -> Path:
    p = Path(str(resources.files("idmatch") / "data" / MODEL_FILE))
    if not p.is_file():
        raise GalleryError(f"{p} is missing: reinstall idmatch (`pip install --force-reinstall idmatch`), "
                           "or regenerate it with training/build_exact_int8_onnx.py", code="model_not_found")
    return p


class _Snapshot:
    """The int8, pre-packed copy of rows ``[0, n)``, cut into ``shards`` row blocks, each scanned by
    its own onnxruntime session; with ``threads`` > 1 the blocks are scanned in parallel."""

    def __init__(self, m: np.ndarray, threads: int, shards: int):
        self.n = len(m)
        self.scale = 127.0 / max(float(np.abs(m).max()), 1e-6)
        edges = np.linspace(0, self.n, max(1, min(shards, self.n // 1024)) + 1).astype(int)
        self._parts = [(int(lo), *self._session(m[lo:hi])) for lo, hi in zip(edges[:-1], edges[1:])]
        self._pool = None
        if threads > 1 and len(self._parts) > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(threads, thread_name_prefix="gallery-int8")

    def _session(self, block: np.ndarray):
        import onnxruntime as ort

        # (dim, rows) int8: B of the product q(1×dim)·B, pre-packed by onnxruntime at session creation
        b = np.ascontiguousarray(np.rint(block * self.scale).astype(np.int8).T)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1          # parallelism comes from the blocks
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3
        value = ort.OrtValue.ortvalue_from_numpy(b)                 # must outlive the session
        so.add_initializer("gallery", value)
        return ort.InferenceSession(str(model_path()), so, providers=["CPUExecutionProvider"]), value, b.shape[1]

    def candidates(self, q: np.ndarray, k: int) -> np.ndarray:
        qi = (np.clip(np.rint(q * self.scale), -127, 127) + 128).astype(np.uint8).reshape(1, -1)

        def scan(part) -> np.ndarray:
            lo, session, _, rows = part
            _, top = session.run(None, {"q": qi, "k": np.array([min(k, rows)], np.int64)})
            return lo + top.reshape(-1)

        found = self._pool.map(scan, self._parts) if self._pool else map(scan, self._parts)
        return np.concatenate(list(found))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)


class Int8ExactIndex(ExactIndex):
    """:class:`ExactIndex` with an int8 candidate scan (see the module docstring).

    ``threads``: cores the int8 scan uses (the snapshot is cut into ``2 × threads`` row blocks).
    Below ``min_frozen`` templates there is no snapshot and the search is plain float32 exact search
    (a few ms). A new snapshot is built in a background thread once more than ``refreeze_rows`` rows
    are outside the current one; searches go on meanwhile (the extra rows in float32)."""

    kind = "exact-int8"
    CANDIDATES = 128

    def __init__(self, dim: int = TEMPLATE_DIM, capacity: int = 1024, threads: int = 1,
                 min_frozen: int = 50_000, refreeze_rows: int = 50_000):
        super().__init__(dim=dim, capacity=capacity, threads=1)   # the float32 path stays single-threaded
        self.scan_threads = max(1, int(threads))
        self.min_frozen, self.refreeze_rows = min_frozen, refreeze_rows
        self._snap: _Snapshot | None = None
        self._dirty: set[int] = set()        # frozen rows whose float32 content changed since the snapshot
        self._building: set[int] | None = None   # rows touched while a new snapshot is being built
        self._builder: threading.Thread | None = None
        self._generation = 0                 # bumped by bulk replacement: a snapshot in flight is void
        model_path()                         # fail at construction, not at the first search

    @property
    def shards(self) -> int:
        return 1 if self.scan_threads == 1 else 2 * self.scan_threads

    # ---- writes: the float32 matrix is the truth; remember which frozen rows it no longer matches
    def add(self, ref_id: str, identity_key: str, template: np.ndarray) -> None:
        with self._lock:
            super().add(ref_id, identity_key, template)
            self._touch(self._pos[ref_id])

    def remove(self, ref_id: str) -> bool:
        with self._lock:
            i = self._pos.get(ref_id)
            if i is None:
                return False
            last = len(self._refs) - 1
            super().remove(ref_id)
            self._touch(i)
            self._touch(last)
            return True

    def add_many(self, rows) -> int:
        with self._lock:
            was_empty = not self._refs
            n = super().add_many(rows)
            if was_empty:             # the bulk path wrote rows without add(): any snapshot is stale
                self._drop_snapshot()
            return n

    def add_matrix(self, ref_ids: list[str], identity_keys: list[str], templates: np.ndarray) -> None:
        with self._lock:
            super().add_matrix(ref_ids, identity_keys, templates)
            self._drop_snapshot()

    def clear(self) -> None:
        with self._lock:
            super().clear()
            self._drop_snapshot()

    def _drop_snapshot(self) -> None:
        if self._snap is not None:
            self._snap.close()
        self._snap, self._dirty, self._building = None, set(), None
        self._generation += 1

    def _touch(self, i: int) -> None:
        if self._snap is not None and i < self._snap.n:
            self._dirty.add(i)
        if self._building is not None:
            self._building.add(i)

    # ---- the snapshot
    def freeze(self) -> None:
        """Build the int8 snapshot now and wait for it (start-up, after a bulk load)."""
        self._start_freeze()
        self.wait_frozen()

    def wait_frozen(self, timeout: float | None = None) -> bool:
        """Wait for a snapshot being built in the background; True when none is in flight."""
        t = self._builder
        if t is not None:
            t.join(timeout)
            return not t.is_alive()
        return True

    def _start_freeze(self) -> None:
        with self._lock:
            n = len(self._refs)
            if self._builder is not None and self._builder.is_alive():
                return
            if n < self.min_frozen:
                self._drop_snapshot()
                return
            m, gen = self._m, self._generation       # rows [0, n) of this array; writes during the
            self._building = set()                   # build are recorded in _building
            self._builder = threading.Thread(target=self._build, args=(m, n, gen), daemon=True,
                                             name="gallery-int8-snapshot")
            self._builder.start()

    def _build(self, m: np.ndarray, n: int, gen: int) -> None:
        t0 = time.perf_counter()
        try:
            snap = _Snapshot(m[:n], self.scan_threads, self.shards)
        except Exception:
            log.exception("int8 gallery snapshot failed; searching in float32 meanwhile")
            with self._lock:
                self._building = None
            return
        with self._lock:
            if gen != self._generation:              # replaced wholesale while building
                snap.close()
                return
            old, self._snap = self._snap, snap
            self._dirty, self._building = {i for i in (self._building or ()) if i < n}, None
            if old is not None:
                old.close()
        log.info("int8 gallery snapshot of %d templates in %.2f s", n, time.perf_counter() - t0)

    def _unfrozen(self, n: int) -> int:
        return max(0, n - (self._snap.n if self._snap else 0)) + len(self._dirty)

    def _top(self, q: np.ndarray, n: int, kk: int) -> tuple[np.ndarray, np.ndarray]:
        """Candidates from the int8 scan, plus the rows outside the snapshot, re-scored in float32."""
        if n >= self.min_frozen and self._unfrozen(n) > self.refreeze_rows:
            self._start_freeze()                 # in the background; this search goes on
        snap = self._snap
        if snap is None:
            return super()._top(q, n, kk)
        cand = snap.candidates(q, max(self.CANDIDATES, 4 * kk))
        stale = np.fromiter(self._dirty, np.int64, len(self._dirty)) if self._dirty else np.empty(0, np.int64)
        cand = cand[(cand < n) & ~np.isin(cand, stale)]
        cand = np.concatenate([cand, np.arange(snap.n, n), stale[stale < n]])
        scores = self._m[cand] @ q                          # exact float32 re-scoring
        order = np.argsort(-scores, kind="stable")[:kk]
        return cand[order], scores[order]

    def memory_bytes(self) -> int:
        """float32 matrix + the int8 snapshot (onnxruntime's packed copy is about the same size again)."""
        return int(self.matrix().nbytes + (2 * self._snap.n * self.dim if self._snap else 0))

    @classmethod
    def load(cls, path: str | Path, threads: int = 1) -> "Int8ExactIndex":
        idx = super().load(path, threads=threads)
        idx.freeze()
        return idx  # type: ignore[return-value]
