"""Fitting the PAD logistic regression (numpy, Newton's method) and choosing its threshold."""
from __future__ import annotations

import numpy as np

L2 = 3.0  # ridge strength on standardised features (chosen by in-source CV, see docs/liveness.md)


def family(source: str) -> str:
    """Weighting family of a source: all verification photos are one, all synthetic attacks one
    (flat and physical together: as separate families they outweighed the real attack sources and
    LOSO dropped), the two tiny sample sources (silent_face, inspireface) one; each PAD data set its own."""
    if source.startswith("synth_") or source.startswith("phys_"):
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


def _loss_grad(beta: np.ndarray, A: np.ndarray, y: np.ndarray, sw: np.ndarray, reg: np.ndarray):
    z = A @ beta
    # log(1 + e^z) - y z, computed stably
    loss = float(np.sum(sw * (np.logaddexp(0.0, z) - y * z)) + 0.5 * np.sum(reg * beta * beta))
    p = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
    return loss, A.T @ (sw * (p - y)) + reg * beta


def _lbfgs(A, y, sw, reg, iters: int = 2000, m: int = 20, gtol: float = 1e-6) -> np.ndarray:
    """Limited-memory BFGS with a backtracking (Armijo) line search: the same strictly convex
    objective as Newton's method, at O(n d) per step instead of O(n d^2) -- 13 LOSO folds x 6 fits
    over ~1,000 features fit in minutes on the shared 2 cores. Deterministic."""
    beta = np.zeros(A.shape[1])
    f, g = _loss_grad(beta, A, y, sw, reg)
    S, Y = [], []
    g0 = max(float(np.linalg.norm(g)), 1e-12)
    for _ in range(iters):
        q = g.copy()
        alphas = []
        for s_, y_ in reversed(list(zip(S, Y))):
            a = (s_ @ q) / (y_ @ s_)
            alphas.append(a)
            q -= a * y_
        if S:
            q *= (S[-1] @ Y[-1]) / (Y[-1] @ Y[-1])
        for (s_, y_), a in zip(zip(S, Y), reversed(alphas)):
            b_ = (y_ @ q) / (y_ @ s_)
            q += (a - b_) * s_
        d = -q
        if g @ d >= 0:
            d, S, Y = -g, [], []
        t = 1.0 if S else min(1.0, 1.0 / g0)
        while True:
            nb = beta + t * d
            nf, ng = _loss_grad(nb, A, y, sw, reg)
            if nf <= f + 1e-4 * t * (g @ d) or t < 1e-12:
                break
            t *= 0.5
        s_, y_ = nb - beta, ng - g
        if s_ @ y_ > 1e-12:
            S.append(s_)
            Y.append(y_)
            if len(S) > m:
                S.pop(0)
                Y.pop(0)
        beta, f, g = nb, nf, ng
        if np.linalg.norm(g) <= gtol * g0:
            break
    return beta


def fit_logreg(X: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = L2, sqrt: bool = True, iters: int = 25,
               solver: str = "lbfgs") -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Weighted L2 logistic regression; y=1 live. Returns (mean, std, weights, bias).

    ``solver``: "lbfgs" (default since v2: O(n d) per step; 13 LOSO folds x 6 fits over ~1,000
    features run in minutes on the shared 2 cores) or "newton" (exact Hessian, how v1 was fitted,
    O(n d^2) per step). The objective is strictly convex, so both reach the same optimum (checked:
    weights within 1e-6)."""
    Xs = np.sqrt(np.maximum(X, 0)) if sqrt else X.astype(np.float64)
    mean = Xs.mean(axis=0)
    std = Xs.std(axis=0) + 1e-6
    Z = (Xs - mean) / std
    n, d = Z.shape
    A = np.hstack([Z, np.ones((n, 1))])
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0
    sw = w / w.sum() * n
    if solver == "lbfgs":
        beta = _lbfgs(A, y.astype(np.float64), sw, reg)
        return mean, std, beta[:-1], float(beta[-1])
    beta = np.zeros(d + 1)
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
