"""A verification report (the numbers EVALUATION.md asks for) and its ROC/DET plots."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..match import OPERATING_FMRS, Calibration
from . import metrics


def verification_report(scores: np.ndarray, same: np.ndarray, folds: np.ndarray | None = None,
                        calibration: Calibration | None = None, fte_images: int = 0, n_images: int = 0) -> dict:
    same = np.asarray(same).astype(bool)
    g, i = scores[same], scores[~same]
    rep: dict = {
        "pairs": int(len(scores)), "genuine": int(same.sum()), "impostor": int((~same).sum()),
        "images": n_images, "fte_images": fte_images,
        "fte_pairs": int((~np.isfinite(scores)).sum()),
        "auc": metrics.auc(g, i), "eer": metrics.eer(g, i),
        "tar_at_far": {f"{far:g}": metrics.tar_at_far(g, i, far) for far in (1e-2, 1e-3, 1e-4)},
    }
    if folds is not None and len(np.unique(folds)) > 1:
        cv = metrics.cross_validated_accuracy(scores, same, folds)
        rep["accuracy_cv"] = {"mean": cv.mean, "std": cv.std, "per_fold": cv.per_fold, "folds": len(cv.per_fold)}
    else:
        t = metrics.best_accuracy_threshold(scores, same)
        rep["accuracy_best_threshold"] = {"accuracy": float(((scores >= t) == same).mean()), "threshold": t}
    if calibration is not None:
        ops = {}
        for fmr in OPERATING_FMRS:
            try:
                thr = calibration.threshold_for(fmr)
            except Exception:
                continue
            m_fmr, m_fnmr = metrics.rates_at(g, i, thr)
            ops[f"{fmr:g}"] = {"threshold": thr, "fmr": m_fmr, "fnmr": m_fnmr,
                               "accuracy": float(((scores >= thr) == same).mean()),
                               "fmr_ratio_to_target": m_fmr / fmr}
        rep["calibrated"] = {"calibration": calibration.name, "points": ops}
    return rep


def plot_roc_det(curves: dict[str, tuple[np.ndarray, np.ndarray]], out_dir: str | Path, title: str = "") -> list[Path]:
    """ROC (TAR vs FMR, log x) and DET (FNMR vs FMR, log-log) PNGs for one or more systems."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in ("roc", "det"):
        fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
        for label, (g, i) in curves.items():
            fmr, tar, _ = metrics.roc_curve(g, i)
            n_i = max(len(i), 1)
            keep = fmr > 0
            floor = 1.0 / n_i
            if kind == "roc":
                ax.plot(np.maximum(fmr[keep], floor), tar[keep], label=label)
            else:
                ax.plot(np.maximum(fmr[keep], floor), np.maximum(1 - tar[keep], 1e-4), label=label)
        ax.set_xscale("log")
        ax.set_xlabel("FMR (false match rate)")
        if kind == "roc":
            ax.set_ylabel("TAR (1 - FNMR)")
            ax.set_ylim(0.8, 1.0)
        else:
            ax.set_yscale("log")
            ax.set_ylabel("FNMR (false non-match rate)")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(f"{kind.upper()} {title}".strip())
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        path = out_dir / f"{kind}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def fmt_pct(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f} %"
