"""The exact data the PAD model is trained and evaluated on, and its (cached) features.

Samples:
* every row of ``pad/labels.csv``; videos sampled at 1 frame/s (as EVALUATION.md prescribes);
* bona fide faces of ``verification/`` (LFW, CASIA-FaceV5, InspireFace, face_recognition,
  OpenFace), split by identity into a *train* half and an *eval* half (stable hash);
* one synthetic attack (print or replay, seeded per image) made from each of those faces.

Faces are found with the run-time detector (``FaceEngine().detect``, with its padded retry for
tight crops such as NUAA's) and cropped exactly as :class:`idmatch.liveness.PassiveLiveness`
does. Features are cached in ``.cache/pad/`` keyed by the sample list and the feature code.
"""
from __future__ import annotations

import csv
import hashlib
import inspect
import json
import logging
import sys
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "training"))
sys.path.insert(0, str(REPO))

from idmatch.liveness import features as F  # noqa: E402
import synth_attacks  # noqa: E402

log = logging.getLogger("pad_data")

SEED = 20261130
VIDEO_FPS = 1.0
VERIFICATION_POPULATIONS = ("lfw", "casia_facev5", "inspireface", "face_recognition", "openface")
CACHE = REPO / ".cache" / "pad"
TRAIN_SUBSAMPLE = 4  # use 1 in 4 train-half verification images (LFW has ~1,800)


@dataclass
class Sample:
    key: str            # unique: path, path#t=SECONDS, or path#synth=TYPE
    path: str           # relative to the shared data folder
    label: str          # live | spoof
    attack_type: str    # print | replay_screen | ''
    source: str         # nuaa, replay_manikantha, ..., lfw, ...; synthetic attacks: synth_<population>
    subject: str        # grouping for cross-validation
    split: str          # pad | train | eval  (verification halves)
    frame_t: float = -1.0
    synth: str = ""     # print | replay_screen for synthetic attacks

    @property
    def in_training_pool(self) -> bool:
        """PAD rows, and a fixed quarter of the train-half verification images (with their attacks):
        every group carries the same total weight anyway, and it keeps fitting fast on 2 cores."""
        if self.split == "pad":
            return True
        return self.split == "train" and zlib.crc32(self.path.encode()) % TRAIN_SUBSAMPLE == 0


def data_dir() -> Path:
    from benchmarks.common import require_data

    return require_data()


def identity_half(population: str, identity: str) -> str:
    return "train" if hashlib.sha1(f"{population}:{identity}".encode()).digest()[0] % 2 == 0 else "eval"


def video_duration(path: Path) -> float:
    cap = cv2.VideoCapture(str(path))
    n, fps = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS) or 25.0
    cap.release()
    return float(n) / float(fps)


def build_samples() -> list[Sample]:
    from benchmarks.common import identities

    d = data_dir()
    out: list[Sample] = []
    for r in csv.DictReader(open(d / "pad/labels.csv")):
        # labels.csv's "inspireface" PAD row must not share a name with the verification population
        src = "inspireface_pad" if r["source"] == "inspireface" else r["source"]
        base = dict(path=r["path"], label=r["label"], attack_type=r["attack_type"], source=src,
                    subject=r["subject"], split="pad")
        if r["media"] == "video":
            dur = video_duration(d / r["path"])
            for t in np.arange(0.0, dur, 1.0 / VIDEO_FPS):
                out.append(Sample(key=f"{r['path']}#t={t:.1f}", frame_t=float(t), **base))
        else:
            out.append(Sample(key=r["path"], **base))
    for pop in VERIFICATION_POPULATIONS:
        for path, ident in sorted(identities(pop).items()):
            half = identity_half(pop, ident)
            out.append(Sample(key=path, path=path, label="live", attack_type="", source=pop,
                              subject=f"{pop}:{ident}", split=half))
            # own hash for the kind: the subsampling below uses crc32(path) and must not pick one kind only
            kind = "print" if zlib.crc32(f"attack:{path}".encode()) % 2 == 0 else "replay_screen"
            out.append(Sample(key=f"{path}#synth={kind}", path=path, label="spoof", attack_type=kind,
                              source=f"synth_{pop}", subject=f"{pop}:{ident}", split=half, synth=kind))
    return out


def write_manifest(samples: list[Sample], path: Path) -> None:
    """Every sample, one CSV row, gzipped without a timestamp (byte-identical across runs)."""
    import gzip
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(asdict(samples[0]).keys()) + ["in_training_pool"], lineterminator="\n")
    w.writeheader()
    for s in samples:
        w.writerow({**asdict(s), "in_training_pool": int(s.in_training_pool)})
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(buf.getvalue().encode())


def _read_frame(path: Path, t: float) -> np.ndarray | None:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_MSEC, t * 1000.0)
    ok, frame = cap.read()
    cap.release()
    return frame if ok else None


def _code_hash() -> str:
    src = inspect.getsource(synth_attacks) + str(SEED) + inspect.getsource(F.face_crop) + f"{F.CROP_SIZE}{F.CROP_MARGIN}"
    return hashlib.sha1(src.encode()).hexdigest()[:10]


def needed(s: Sample) -> bool:
    """Samples any experiment uses: the training pool, all eval-half bona fide (BPCER), and a
    quarter of the eval-half synthetic attacks (their APCER is only indicative)."""
    if s.in_training_pool:
        return True
    if s.split == "eval":
        return not s.synth or zlib.crc32(s.path.encode()) % TRAIN_SUBSAMPLE == 1
    return False


def _detect_all(samples: list[Sample], engine) -> dict[str, tuple | None]:
    """Face box per image (cached in .cache/pad/boxes.json): the detector is the slow part."""
    from idmatch.errors import IdmatchError

    f = CACHE / "boxes.json"
    boxes: dict = json.loads(f.read_text()) if f.exists() else {}
    d = data_dir()
    todo = sorted({s.key.split("#synth=")[0] for s in samples if needed(s)} - set(boxes))
    for k in tqdm(todo, desc="detecting faces", mininterval=5):
        s = next(x for x in samples if x.key.split("#synth=")[0] == k)
        img = _load(d, s, engine)
        try:
            boxes[k] = None if img is None else [float(v) for v in engine.detect(img).face.box]
        except IdmatchError:
            boxes[k] = None
    f.write_text(json.dumps(boxes))
    return boxes


def _load(d: Path, s: Sample, engine) -> np.ndarray | None:
    from idmatch.errors import IdmatchError

    if s.frame_t >= 0:
        return _read_frame(d / s.path, s.frame_t)
    try:
        return engine.decode(d / s.path)
    except IdmatchError:
        return None


def crops(samples: list[Sample]) -> tuple[np.ndarray, np.ndarray]:
    """Face crops (N, CROP_SIZE, CROP_SIZE, 3) exactly as at run time, and a found-face mask."""
    from idmatch.pipeline import FaceEngine

    CACHE.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha1(("\n".join(s.key for s in samples) + _code_hash()).encode()).hexdigest()[:12]
    cache = CACHE / f"crops-{h}.npz"
    if cache.exists():
        z = np.load(cache)
        return z["C"], z["ok"]
    engine = FaceEngine()
    boxes = _detect_all(samples, engine)
    d = data_dir()
    C = np.zeros((len(samples), F.CROP_SIZE, F.CROP_SIZE, 3), np.uint8)
    ok = np.zeros(len(samples), bool)
    for i, s in enumerate(tqdm(samples, desc="PAD crops", mininterval=5)):
        if not needed(s):
            continue
        box = boxes.get(s.key.split("#synth=")[0])
        if box is None:
            continue
        img = _load(d, s, engine)
        if img is None:
            continue
        if s.synth:
            rng = np.random.default_rng([SEED, zlib.crc32(s.key.encode())])
            fn = synth_attacks.ATTACKS[s.synth]
            img = fn(img, rng, tuple(box)) if s.synth == "replay_screen" else fn(img, rng)
        C[i] = F.face_crop(img, tuple(box))
        ok[i] = True
    np.savez(cache, C=C, ok=ok)
    return C, ok


def extract(samples: list[Sample], feature_fn=None) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, D) of :func:`crops` and the found-face mask."""
    feature_fn = feature_fn or F.colour_lbp_features
    C, ok = crops(samples)
    idx = np.flatnonzero(ok)
    first = feature_fn(C[idx[0]])
    X = np.zeros((len(samples), len(first)), np.float32)
    for i in tqdm(idx, desc="PAD features", mininterval=5):
        X[i] = feature_fn(C[i])
    return X, ok
