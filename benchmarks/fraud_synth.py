"""Synthetic face templates that match the statistics of real LFW SFace embeddings.

Model (a two-level Gaussian in the 128-d template space, then L2-normalised, as real templates are):
  identity centre  c = mu + B z_b,   B Bᵀ = Σ_between  (covariance of LFW per-identity mean templates)
  one capture      x = c + W z_w,    W Wᵀ = Σ_within   (pooled covariance of LFW residuals around their identity mean)
  template         x / ‖x‖
Σ_between is corrected for the within-identity noise that identity means still carry
(Σ_between_observed − mean(1/n_i)·Σ_within), clipped to positive semi-definite.
:func:`score_stats` compares genuine and impostor cosine statistics of real and synthetic sets.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TemplateModel:
    mu: np.ndarray
    between: np.ndarray   # factor B (d x d)
    within: np.ndarray    # factor W (d x d)
    mean_images: float    # mean images per identity in the fitted set (informational)

    def identities(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.mu + rng.standard_normal((n, len(self.mu)), dtype=np.float32) @ self.between.T

    def captures(self, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
        x = centres + rng.standard_normal(centres.shape, dtype=np.float32) @ self.within.T
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _psd_factor(cov: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))).astype(np.float32)


def fit(templates: np.ndarray, labels: np.ndarray) -> TemplateModel:
    templates = np.asarray(templates, np.float64)
    uniq, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    means = np.zeros((len(uniq), templates.shape[1]))
    np.add.at(means, inv, templates)
    means /= counts[:, None]
    multi = counts[inv] >= 2
    resid = templates[multi] - means[inv[multi]]
    dof = int(multi.sum()) - int((counts >= 2).sum())
    s_within = resid.T @ resid / max(dof, 1)
    s_between = np.cov(means.T) - np.mean(1.0 / counts) * s_within
    return TemplateModel(mu=templates.mean(0).astype(np.float32), between=_psd_factor(s_between),
                         within=_psd_factor(s_within), mean_images=float(counts.mean()))


def score_stats(templates: np.ndarray, labels: np.ndarray, max_impostors: int = 2_000_000, seed: int = 0) -> dict:
    """Genuine / impostor cosine statistics of a labelled template set (impostors sampled)."""
    rng = np.random.default_rng(seed)
    t = np.asarray(templates, np.float32)
    labels = np.asarray(labels)
    i = rng.integers(0, len(t), max_impostors)
    j = rng.integers(0, len(t), max_impostors)
    keep = labels[i] != labels[j]
    imp = np.einsum("ij,ij->i", t[i[keep]], t[j[keep]])
    gen = []
    order = np.argsort(labels, kind="stable")
    ls = labels[order]
    starts = np.flatnonzero(np.r_[True, ls[1:] != ls[:-1]])
    ends = np.r_[starts[1:], len(ls)]
    for s, e in zip(starts, ends):
        if e - s >= 2:
            g = t[order[s:e]]
            m = g @ g.T
            gen.extend(m[np.triu_indices(e - s, 1)].tolist())
    gen = np.asarray(gen)
    q = lambda a, p: float(np.quantile(a, p)) if len(a) else float("nan")
    return {"impostor_mean": float(imp.mean()), "impostor_std": float(imp.std()), "impostor_p99_9": q(imp, 0.999),
            "impostor_p99_999": q(imp, 0.99999), "genuine_mean": float(gen.mean()) if len(gen) else float("nan"),
            "genuine_std": float(gen.std()) if len(gen) else float("nan"), "genuine_p05": q(gen, 0.05),
            "n_impostor": int(len(imp)), "n_genuine": int(len(gen))}
