"""Run a pairs file (``img1,img2,same[,fold][,source]``) through an engine and score it."""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from ..errors import IdmatchError

log = logging.getLogger(__name__)


@dataclass
class PairSet:
    img1: list[str]
    img2: list[str]
    same: np.ndarray
    folds: np.ndarray | None = None
    sources: list[str] | None = None

    @property
    def images(self) -> list[str]:
        return sorted(set(self.img1) | set(self.img2))

    def subset(self, mask: np.ndarray) -> "PairSet":
        idx = np.nonzero(mask)[0]
        return PairSet([self.img1[i] for i in idx], [self.img2[i] for i in idx], self.same[idx],
                       None if self.folds is None else self.folds[idx],
                       None if self.sources is None else [self.sources[i] for i in idx])


def read_pairs(path: str | Path) -> PairSet:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"img1", "img2", "same"} <= set(rows[0]):
        raise IdmatchError(f"{path}: a pairs file needs the columns img1,img2,same", code="bad_pairs_file")
    folds = np.array([int(r["fold"]) for r in rows]) if "fold" in rows[0] and all(r["fold"] for r in rows) else None
    sources = [r["source"] for r in rows] if "source" in rows[0] else None
    return PairSet([r["img1"] for r in rows], [r["img2"] for r in rows],
                   np.array([int(r["same"]) for r in rows], dtype=np.int8), folds, sources)


@dataclass
class EmbeddingTable:
    """Template per image path; a path missing from ``templates`` failed to enrol (reason in ``failures``)."""

    templates: dict[str, np.ndarray] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


def embed_images(paths: list[str], root: str | Path, embed: Callable[[str], np.ndarray],
                 progress: bool = True, desc: str = "embedding") -> EmbeddingTable:
    """Embed each image once; failures to enrol are recorded, not raised."""
    table = EmbeddingTable()
    root = Path(root)
    for p in tqdm(paths, desc=desc, unit="img", disable=not progress, mininterval=1.0):
        try:
            table.templates[p] = embed(str(root / p))
        except IdmatchError as err:
            table.failures[p] = err.code
    if table.failures:
        log.info("%d image(s) failed to enrol", len(table.failures))
    return table


def score_pairs(pairs: PairSet, table: EmbeddingTable) -> np.ndarray:
    """Cosine score per pair; ``-inf`` where either side failed to enrol (counts as a non-match)."""
    out = np.full(len(pairs.same), -np.inf)
    for k, (a, b) in enumerate(zip(pairs.img1, pairs.img2)):
        ta, tb = table.templates.get(a), table.templates.get(b)
        if ta is not None and tb is not None:
            out[k] = float(ta @ tb)
    return out
