"""Verification metrics on score arrays. A failure to enrol is scored ``-inf`` (always a non-match)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def roc_curve(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fmr, tar, thresholds) for every distinct threshold, thresholds descending.

    A comparison is accepted when ``score >= threshold``.
    """
    g = np.asarray(genuine, dtype=np.float64)
    i = np.asarray(impostor, dtype=np.float64)
    scores = np.concatenate([g, i])
    labels = np.concatenate([np.ones(len(g)), np.zeros(len(i))])
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    distinct = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
    tp = np.cumsum(labels)[distinct]
    fp = np.cumsum(1 - labels)[distinct]
    tar = np.r_[0.0, tp / max(len(g), 1)]
    fmr = np.r_[0.0, fp / max(len(i), 1)]
    thr = np.r_[np.inf, scores[distinct]]
    return fmr, tar, thr


def auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Probability a genuine score beats an impostor score (ties half): Mann-Whitney U."""
    g = np.asarray(genuine, dtype=np.float64)
    i = np.asarray(impostor, dtype=np.float64)
    allv = np.concatenate([g, i])
    ranks = _rankdata(allv)
    rg = ranks[: len(g)].sum()
    return float((rg - len(g) * (len(g) + 1) / 2) / (len(g) * len(i)))


def _rankdata(a: np.ndarray) -> np.ndarray:
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a), dtype=np.float64)
    sa = a[order]
    # average ranks for ties
    idx = np.r_[0, np.nonzero(np.diff(sa))[0] + 1, len(a)]
    for s, e in zip(idx[:-1], idx[1:]):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    return ranks


def eer(genuine: np.ndarray, impostor: np.ndarray) -> float:
    fmr, tar, _ = roc_curve(genuine, impostor)
    fnmr = 1 - tar
    k = int(np.argmin(np.abs(fnmr - fmr)))
    return float((fnmr[k] + fmr[k]) / 2)


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> float:
    """Highest TAR over thresholds whose FMR <= far."""
    fmr, tar, _ = roc_curve(genuine, impostor)
    ok = fmr <= far + 1e-15
    return float(tar[ok].max()) if ok.any() else 0.0


def rates_at(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> tuple[float, float]:
    """(FMR, FNMR) at a fixed threshold."""
    g = np.asarray(genuine)
    i = np.asarray(impostor)
    fmr = float((i >= threshold).mean()) if len(i) else float("nan")
    fnmr = float((g < threshold).mean()) if len(g) else float("nan")
    return fmr, fnmr


def best_accuracy_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    finite = np.sort(np.unique(scores[np.isfinite(scores)]))
    if len(finite) == 0:
        return 0.0
    cands = np.r_[finite[0] - 1e-6, (finite[:-1] + finite[1:]) / 2, finite[-1] + 1e-6]
    acc = [((scores >= t) == same).mean() for t in cands]
    return float(cands[int(np.argmax(acc))])


@dataclass
class CVResult:
    mean: float
    std: float
    per_fold: list[float]
    thresholds: list[float]


def cross_validated_accuracy(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> CVResult:
    """LFW protocol: threshold chosen on the other folds, accuracy measured on the held-out fold."""
    scores, same, folds = np.asarray(scores), np.asarray(same).astype(bool), np.asarray(folds)
    accs, ths = [], []
    for f in np.unique(folds):
        train, test = folds != f, folds == f
        t = best_accuracy_threshold(scores[train], same[train])
        accs.append(float(((scores[test] >= t) == same[test]).mean()))
        ths.append(t)
    return CVResult(float(np.mean(accs)), float(np.std(accs)), accs, ths)
