"""The exact data the PAD model is trained and evaluated on, and its (cached) features.

Samples:
* every row of ``pad/labels.csv``; videos sampled at 1 frame/s (as EVALUATION.md prescribes);
* bona fide faces of ``verification/`` (LFW, CASIA-FaceV5, InspireFace, face_recognition,
  OpenFace), split by identity into a *train* half and an *eval* half (stable hash);
* one synthetic attack (print or replay, seeded per image) made from each of those faces;
* (recipe v2) one *physical* attack per face (folded / curved / hand-held print, hand-held screen,
  rendered into a 640x480 counter-camera frame by ``synth_physical.py``; the face is detected
  again in the rendered frame).

Recipe v2's training pool never holds CASIA-FaceV5 (its terms forbid product models) nor any LFW
identity with >= 8 photos (the attack benchmark draws its LFW victims from those), so the model is
trained on bona fide faces disjoint from the benchmark's subjects. Recipe v1 (the first shipped
model) is kept to measure "before" on the same protocol.

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
from collections import Counter
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
import synth_physical  # noqa: E402

log = logging.getLogger("pad_data")

SEED = 20261130
VIDEO_FPS = 1.0
VERIFICATION_POPULATIONS = ("lfw", "casia_facev5", "inspireface", "face_recognition", "openface")
CACHE = REPO / ".cache" / "pad"
TRAIN_SUBSAMPLE = 4  # use 1 in 4 train-half verification images (LFW has ~1,800)
EVAL_PHYS_SUBSAMPLE = 8  # physical attacks of 1 in 8 eval-half photos (indicative APCER only)
BENCHMARK_MIN_PHOTOS = 8  # benchmarks/attacks/subjects.py draws LFW victims among people with >= 8 photos
RECIPE = "v2"
# every crop any experiment reads, cached together (one pass over the images)
CROPS_ALL = {"inner": (F.CROP_SIZE, F.CROP_MARGIN), "wide": (128, 0.4)}


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
    phys: str = ""      # print_folded | print_curved | print_handheld | replay_handheld (synth_physical)
    exclude: str = ""   # why a train-half face is never trained on: casia_terms | attack_benchmark_subject

    def in_pool(self, recipe: str = RECIPE) -> bool:
        """PAD rows, and a fixed quarter of the train-half verification images (with their attacks):
        every group carries the same total weight anyway, and it keeps fitting fast on 2 cores.
        v2 adds the physical attacks and drops the excluded faces."""
        if self.split == "pad":
            return True
        if recipe == "v1":
            return not self.phys and self.split == "train" and zlib.crc32(self.path.encode()) % TRAIN_SUBSAMPLE == 0
        return not self.exclude and self.split == "train" and zlib.crc32(self.path.encode()) % TRAIN_SUBSAMPLE == 0

    @property
    def in_training_pool(self) -> bool:
        return self.in_pool(RECIPE)


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
        # the nine sources added 2026-12-03 write "replay": the same species as "replay_screen"
        atype = "replay_screen" if r["attack_type"] == "replay" else r["attack_type"]
        base = dict(path=r["path"], label=r["label"], attack_type=atype, source=src,
                    subject=r["subject"], split="pad")
        if r["media"] == "video":
            dur = video_duration(d / r["path"])
            for t in np.arange(0.0, dur, 1.0 / VIDEO_FPS):
                out.append(Sample(key=f"{r['path']}#t={t:.1f}", frame_t=float(t), **base))
        else:
            out.append(Sample(key=r["path"], **base))
    for pop in VERIFICATION_POPULATIONS:
        ids = identities(pop)
        n_photos = Counter(ids.values())
        for path, ident in sorted(ids.items()):
            half = identity_half(pop, ident)
            excl = ""
            if half == "train" and pop == "casia_facev5":
                excl = "casia_terms"
            elif half == "train" and pop == "lfw" and n_photos[ident] >= BENCHMARK_MIN_PHOTOS:
                excl = "attack_benchmark_subject"
            common = dict(path=path, subject=f"{pop}:{ident}", split=half, exclude=excl)
            out.append(Sample(key=path, label="live", attack_type="", source=pop, **common))
            # own hash for the kind: the subsampling below uses crc32(path) and must not pick one kind only
            kind = "print" if zlib.crc32(f"attack:{path}".encode()) % 2 == 0 else "replay_screen"
            out.append(Sample(key=f"{path}#synth={kind}", label="spoof", attack_type=kind,
                              source=f"synth_{pop}", synth=kind, **common))
            if pop == "lfw":  # the physical attacks are rendered from LFW faces only
                sp = synth_physical.species_for(path)
                out.append(Sample(key=f"{path}#phys={sp}", label="spoof", attack_type=synth_physical.SPECIES_TYPE[sp],
                                  source=f"phys_{pop}", phys=sp, **common))
    return out


def write_manifest(samples: list[Sample], path: Path, recipe: str = RECIPE) -> None:
    """Every sample, one CSV row, gzipped without a timestamp (byte-identical across runs)."""
    import gzip
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(asdict(samples[0]).keys()) + ["in_training_pool"], lineterminator="\n")
    w.writeheader()
    for s in samples:
        w.writerow({**asdict(s), "in_training_pool": int(s.in_pool(recipe))})
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(buf.getvalue().encode())


def _read_frame(path: Path, t: float) -> np.ndarray | None:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_MSEC, t * 1000.0)
    ok, frame = cap.read()
    cap.release()
    return frame if ok else None


def _code_hash() -> str:
    src = (inspect.getsource(synth_attacks) + inspect.getsource(synth_physical) + str(SEED)
           + inspect.getsource(F.face_crop))
    return hashlib.sha1(src.encode()).hexdigest()[:10]


def needed(s: Sample) -> bool:
    """Samples any experiment uses: both recipes' training pools, all eval-half bona fide (BPCER),
    a quarter of the eval-half synthetic attacks and an eighth of their physical attacks (their
    APCER is only indicative)."""
    if s.in_pool("v1") or s.in_pool("v2"):
        return True
    if s.split == "eval":
        if s.phys:
            return zlib.crc32(s.path.encode()) % EVAL_PHYS_SUBSAMPLE == 3
        return not s.synth or zlib.crc32(s.path.encode()) % TRAIN_SUBSAMPLE == 1
    return False


def _detect_all(samples: list[Sample], engine) -> dict[str, tuple | None]:
    """Face box per image (cached in .cache/pad/boxes.json): the detector is the slow part."""
    from idmatch.errors import IdmatchError

    f = CACHE / "boxes.json"
    boxes: dict = json.loads(f.read_text()) if f.exists() else {}
    d = data_dir()
    todo = sorted({_img_key(s) for s in samples if needed(s) and not s.phys} - set(boxes))
    for k in tqdm(todo, desc="detecting faces", mininterval=5):
        s = next(x for x in samples if _img_key(x) == k)
        img = _load(d, s, engine)
        try:
            boxes[k] = None if img is None else [float(v) for v in engine.detect(img).face.box]
        except IdmatchError:
            boxes[k] = None
    f.write_text(json.dumps(boxes))
    return boxes


def _img_key(s: Sample) -> str:
    return s.key.split("#synth=")[0].split("#phys=")[0]


def _load(d: Path, s: Sample, engine) -> np.ndarray | None:
    from idmatch.errors import IdmatchError

    if s.frame_t >= 0:
        return _read_frame(d / s.path, s.frame_t)
    try:
        return engine.decode(d / s.path)
    except IdmatchError:
        return None


def crops(samples: list[Sample], crop_specs: dict[str, tuple[int, float]] | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Face crops {name: (N, size, size, 3)} exactly as at run time (``crop_specs``: name -> (size,
    margin); default the v1 inner crop), and a found-face mask. Physical attacks are rendered
    from the bona fide photo and the face is detected again in the rendered frame."""
    from idmatch.errors import IdmatchError
    from idmatch.pipeline import FaceEngine

    crop_specs = crop_specs or {"inner": (F.CROP_SIZE, F.CROP_MARGIN)}
    CACHE.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha1(("\n".join(s.key for s in samples) + _code_hash() + json.dumps(sorted(crop_specs.items()))
                      ).encode()).hexdigest()[:12]
    cache = CACHE / f"crops-{h}.npz"
    if cache.exists():
        z = np.load(cache)
        ok = z["ok"]
        out = {}
        for k, (sz, mg) in crop_specs.items():
            out[k] = np.zeros((len(samples), sz, sz, 3), np.uint8)
            out[k][ok] = z[k]
        return out, ok
    engine = FaceEngine()
    boxes = _detect_all(samples, engine)
    d = data_dir()
    C = {k: np.zeros((len(samples), sz, sz, 3), np.uint8) for k, (sz, mg) in crop_specs.items()}
    ok = np.zeros(len(samples), bool)
    # backdrops for the physical attacks: train-pool LFW photos (bona fide scenes), chosen per sample
    backdrops = [s.path for s in samples if s.source == "lfw" and s.in_pool("v2") and not s.synth]
    for i, s in enumerate(tqdm(samples, desc="PAD crops", mininterval=5)):
        if not needed(s):
            continue
        box = boxes.get(_img_key(s))
        if box is None:
            continue
        img = _load(d, s, engine)
        if img is None:
            continue
        rng = np.random.default_rng([SEED, zlib.crc32(s.key.encode())])
        if s.synth:
            fn = synth_attacks.ATTACKS[s.synth]
            img = fn(img, rng, tuple(box)) if s.synth == "replay_screen" else fn(img, rng)
        elif s.phys:
            bd = cv2.imread(str(d / backdrops[int(rng.integers(len(backdrops)))]))
            img = synth_physical.physical_attack(img, tuple(box), s.phys, rng, bd)
            try:
                box = [float(v) for v in engine.detect(img).face.box]
            except IdmatchError:
                continue
        for k, (sz, mg) in crop_specs.items():
            C[k][i] = F.face_crop(img, tuple(box), sz, mg)
        ok[i] = True
    np.savez(cache, ok=ok, **{k: v[ok] for k, v in C.items()})
    return C, ok


def extract(samples: list[Sample], spec: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, D) of :func:`crops` for a feature ``spec`` (features.V1_SPEC by default), and
    the found-face mask. Cached per block in .cache/pad/."""
    spec = spec or F.V1_SPEC
    C, ok = crops(samples, {**CROPS_ALL, **{k: tuple(v) for k, v in spec["crops"].items()}})
    idx = np.flatnonzero(ok)
    out = []
    for b in spec["blocks"]:
        cname = F.BLOCKS[b][0]
        key = hashlib.sha1((f"{b}{spec['crops'][cname]}" + inspect.getsource(F) + "\n".join(s.key for s in samples)
                            + _code_hash()).encode()).hexdigest()[:12]
        f = CACHE / f"feat-{b}-{key}.npy"
        if f.exists():
            out.append(np.load(f))
            continue
        fn = F.BLOCKS[b][1]
        first = fn(C[cname][idx[0]])
        X = np.zeros((len(samples), len(first)), np.float32)
        for i in tqdm(idx, desc=f"PAD features {b}", mininterval=5):
            X[i] = fn(C[cname][i])
        np.save(f, X)
        out.append(X)
    return np.hstack(out), ok
