"""Helpers shared by the benchmark scripts: data paths, identity lists, cached embeddings."""
from __future__ import annotations

import csv
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("IDMATCH_SHARED_DATA", REPO.parent / "shared" / "data"))
CACHE = REPO / ".cache"
REPORTS = REPO / "reports"

sys.path.insert(0, str(REPO / "src"))


def require_data() -> Path:
    if not DATA.is_dir():
        sys.exit(f"shared data not found at {DATA}; set IDMATCH_SHARED_DATA")
    return DATA


def identities(population: str) -> dict[str, str]:
    """{relative image path: identity} for each labelled population in shared data."""
    d = require_data()
    out: dict[str, str] = {}
    if population == "lfw":
        base = d / "verification/lfw_deepfunneled/images"
        for p in sorted(base.glob("*/*.jpg")):
            out[str(p.relative_to(d))] = p.parent.name
    elif population == "casia_facev5":
        for r in csv.DictReader(open(d / "verification/casia_facev5/identities.csv")):
            out[r["path"] if r["path"].startswith("verification/") else f"verification/casia_facev5/{r['path']}"] = r["identity"]
    elif population == "inspireface":
        for r in csv.DictReader(open(d / "verification/inspireface/identities.csv")):
            out[r["path"] if r["path"].startswith("verification/") else f"verification/inspireface/{r['path']}"] = r["identity"]
    elif population == "face_recognition":
        base = d / "verification/face_recognition/images"
        for p in sorted(base.glob("*/*")):
            out[str(p.relative_to(d))] = p.parent.name
    elif population == "openface":
        base = d / "verification/openface"
        for p in sorted(base.rglob("*.jpg")):
            out[str(p.relative_to(d))] = p.stem.rsplit("-", 1)[0]
    else:
        raise ValueError(population)
    return out


def cached_templates(key: str, paths: list[str], embed, desc: str = "embedding") -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Embed ``paths`` (relative to DATA) once per model key; cache in .cache/ (gitignored)."""
    from idmatch.evaluation.pairs import embed_images

    CACHE.mkdir(exist_ok=True)
    h = hashlib.sha1("\n".join(sorted(paths)).encode()).hexdigest()[:10]
    f = CACHE / f"emb-{key}-{h}.npz"
    if f.exists():
        z = np.load(f, allow_pickle=True)
        return dict(z["templates"].item()), dict(z["failures"].item())
    table = embed_images(sorted(paths), DATA, embed, desc=desc)
    np.savez(f, templates=np.array(table.templates, dtype=object), failures=np.array(table.failures, dtype=object))
    return table.templates, table.failures


def template_pool(model_id: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every template cached so far for one model (all populations merged)."""
    templates: dict[str, np.ndarray] = {}
    failures: dict[str, str] = {}
    for f in sorted(CACHE.glob(f"emb-{model_id}-*.npz")):
        z = np.load(f, allow_pickle=True)
        templates.update(z["templates"].item())
        failures.update(z["failures"].item())
    return templates, failures


def pooled_templates(model_id: str, key: str, paths: list[str], embed, desc: str = "embedding"
                     ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Templates for ``paths``, embedding only images no earlier run of this model has cached."""
    pool_t, pool_f = template_pool(model_id)
    missing = [p for p in paths if p not in pool_t and p not in pool_f]
    if missing:
        new_t, new_f = cached_templates(f"{model_id}-{key}", missing, embed, desc=desc)
        pool_t.update(new_t)
        pool_f.update(new_f)
    wanted = set(paths)
    return ({p: t for p, t in pool_t.items() if p in wanted}, {p: c for p, c in pool_f.items() if p in wanted})


#: populations every calibration is built from (identity-labelled; LFW and CASIA decide, the small sets are measured)
CALIBRATION_POPULATIONS = ["lfw", "casia_facev5", "inspireface", "face_recognition"]
TEMPLATE_CACHE = REPORTS / "tmp"


def condition_tables(engine, population: str, progress: bool = True):
    """Templates of one population under every capture condition, each condition embedded once
    (cached in reports/tmp/, keyed by model, population, condition and the image list)."""
    from idmatch.evaluation.condition_templates import embed_conditions

    ids = identities(population)
    return ids, embed_conditions(engine, list(ids), DATA, key=population, cache_dir=TEMPLATE_CACHE, progress=progress)
