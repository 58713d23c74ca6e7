"""Fitting the PAD logistic regression (numpy, Newton's method) and choosing its threshold."""
from __future__ import annotations

import numpy as np

L2 = 3.0  # ridge strength on standardised features (chosen by in-source CV, see docs/liveness.md)


def family(source: str) -> str:
    """Weighting family of a source: all verification photos are one, all synthetic attacks one,
    the two tiny sample sources (silent_face, inspireface) one; each PAD data set its own."""
    if source.startswith("synth_"):
        return "synthetic"
    if source in ("lfw", "casia_facev5", "inspireface", "face_recognition", "openface"):
        return "photos"
    if source in ("silent_face", "inspireface_pad"):
        return "misc"
    return source


def group_weights(sources: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each (family, label) group weighs the same in total, so LFW's hundreds do not drown a
    31-image replay set, and a 2-image set does not get the weight of hundreds."""
    keys = [f"{family(s)}|{l}" for s, l in zip(sources, labels)]
    _, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inv]
    return w * len(w) / w.sum()


def fit_logreg(X: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = L2, sqrt: bool = True, iters: int = 25
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Weighted L2 logistic regression; y=1 live. Returns (mean, std, weights, bias)."""
    Xs = np.sqrt(np.maximum(X, 0)) if sqrt else X.astype(np.float64)
    mean = Xs.mean(axis=0)
    std = Xs.std(axis=0) + 1e-6
    Z = (Xs - mean) / std
    n, d = Z.shape
    A = np.hstack([Z, np.ones((n, 1))])
    beta = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0
    sw = w / w.sum() * n
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(A @ beta, -50, 50)))
        g = A.T @ (sw * (p - y)) + reg * beta
        H = (A * (sw * p * (1 - p))[:, None]).T @ A + np.diag(reg + 1e-9)
        step = np.linalg.solve(H, g)
        beta -= step
        if np.max(np.abs(step)) < 1e-4:
            break
    return mean, std, beta[:-1], float(beta[-1])


def predict(model: tuple, X: np.ndarray, sqrt: bool = True) -> np.ndarray:
    mean, std, wts, b = model
    Xs = np.sqrt(np.maximum(X, 0)) if sqrt else X
    return 1.0 / (1.0 + np.exp(-np.clip(((Xs - mean) / std) @ wts + b, -50, 50)))


def choose_threshold(scores: np.ndarray, is_live: np.ndarray, is_photo_set: np.ndarray,
                     bpcer_photos: float = 0.01, bpcer_pad: float = 0.05) -> float:
    """Strictest-for-attacks threshold that keeps (out-of-fold) BPCER ≤ 1 % on ordinary bona fide
    photos (verification sets) and ≤ 5 % on PAD-set bona fide captures."""
    a = scores[is_live & is_photo_set]
    b = scores[is_live & ~is_photo_set]
    cands = []
    if len(a):
        cands.append(np.quantile(a, bpcer_photos, method="lower"))
    if len(b):
        cands.append(np.quantile(b, bpcer_pad, method="lower"))
    return float(min(cands))


def group_folds(groups: np.ndarray, k: int = 5, seed: int = 0) -> np.ndarray:
    """Fold index per sample; every group (subject) in one fold."""
    uniq = np.unique(groups)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(uniq))
    fold_of = {g: int(perm[i] % k) for i, g in enumerate(uniq)}
    return np.array([fold_of[g] for g in groups])


def oof_scores(X: np.ndarray, y: np.ndarray, w: np.ndarray, groups: np.ndarray, k: int = 5, seed: int = 0,
               l2: float = L2) -> np.ndarray:
    folds = group_folds(groups, k, seed)
    out = np.zeros(len(y))
    for f in range(k):
        tr, te = folds != f, folds == f
        m = fit_logreg(X[tr], y[tr], w[tr], l2)
        out[te] = predict(m, X[te])
    return out
