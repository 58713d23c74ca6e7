"""Templates of labelled images under every capture condition, each condition embedded once and cached.

The full photo is analysed first; its decoded image and 5 landmarks make every other condition
(:mod:`idmatch.evaluation.conditions`). An image that fails to enrol as a full photo cannot be turned
into the other conditions and counts as a failure to enrol in all of them.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from ..errors import IdmatchError
from .conditions import CONDITIONS, FULL, generate, generator_params, image_colour
from .pairs import EmbeddingTable

log = logging.getLogger(__name__)


class _Analysis(Protocol):
    image: np.ndarray
    template: np.ndarray


class _Engine(Protocol):
    model_id: str

    def analyze(self, source, role: str = "live") -> _Analysis: ...


@dataclass
class ConditionTemplates:
    """{condition: EmbeddingTable} for one set of images."""

    tables: dict[str, EmbeddingTable] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)   # cache file per condition, when cached

    def __getitem__(self, condition: str) -> EmbeddingTable:
        return self.tables[condition]


def _cache_file(cache_dir: Path, model_id: str, key: str, condition: str, paths: list[str]) -> Path:
    h = hashlib.sha1("\n".join(sorted(paths)).encode()).hexdigest()[:10]
    g = hashlib.sha1(json.dumps(generator_params(condition), sort_keys=True).encode()).hexdigest()[:6]
    return cache_dir / f"tpl-{model_id}-{key}-{condition}-{g}-{h}.npz"


def capture_features(image: np.ndarray, face) -> np.ndarray:
    """What a verifier can see of a capture's condition: height, width, face box (x, y, w, h), inter-eye
    distance, mean absolute difference between colour channels."""
    img = np.asarray(image)
    colour = image_colour(img)
    x, y, w, h = face.box
    return np.array([img.shape[0], img.shape[1], x, y, w, h, face.inter_eye_distance, colour], dtype=np.float32)


def _load(f: Path) -> EmbeddingTable:
    z = np.load(f, allow_pickle=True)
    return EmbeddingTable(dict(z["templates"].item()), dict(z["failures"].item()))


def load_features(f: Path) -> dict[str, np.ndarray]:
    z = np.load(f, allow_pickle=True)
    return dict(z["features"].item()) if "features" in z.files else {}


def _save(f: Path, table: EmbeddingTable, features: dict[str, np.ndarray]) -> None:
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_suffix(".tmp.npz")
    np.savez(tmp, templates=np.array(table.templates, dtype=object), failures=np.array(table.failures, dtype=object),
             features=np.array(features, dtype=object))
    tmp.replace(f)


def embed_conditions(engine: _Engine, paths: list[str], root: str | Path, *, key: str,
                     conditions: tuple[str, ...] | list[str] = CONDITIONS, cache_dir: str | Path | None = None,
                     progress: bool = True) -> ConditionTemplates:
    """Embed ``paths`` (relative to ``root``) under each condition; with ``cache_dir``, each condition once."""
    root = Path(root)
    paths = sorted(paths)
    cache = Path(cache_dir) if cache_dir is not None else None
    out = ConditionTemplates()
    todo = []
    for cond in conditions:
        f = None if cache is None else _cache_file(cache, engine.model_id, key, cond, paths)
        if f is not None:
            out.files[cond] = f
        if f is not None and f.exists():
            out.tables[cond] = _load(f)
            log.info("%s/%s: %d templates from cache %s", key, cond, len(out.tables[cond].templates), f.name)
        else:
            todo.append(cond)
    if not todo:
        return out
    # one pass over the images: decode and detect the full photo once, then make each missing condition
    tables = {c: EmbeddingTable() for c in todo}
    features: dict[str, dict[str, np.ndarray]] = {c: {} for c in todo}
    for p in tqdm(paths, desc=f"{key} [{','.join(todo)}]", unit="img", disable=not progress, mininterval=2.0):
        try:
            a = engine.analyze(str(root / p))
        except IdmatchError as err:
            for c in todo:
                tables[c].failures[p] = err.code
            continue
        lm = np.asarray(a.face.landmarks, dtype=np.float32)  # type: ignore[attr-defined]
        for c in todo:
            try:
                b = a if c == FULL else engine.analyze(generate(c, a.image, lm))
                tables[c].templates[p] = b.template
                features[c][p] = capture_features(b.image, b.face)  # type: ignore[attr-defined]
            except IdmatchError as err:
                tables[c].failures[p] = err.code
    for c in todo:
        if cache is not None:
            _save(_cache_file(cache, engine.model_id, key, c, paths), tables[c], features[c])
        if tables[c].failures:
            log.info("%s/%s: %d image(s) failed to enrol", key, c, len(tables[c].failures))
        out.tables[c] = tables[c]
    return out
