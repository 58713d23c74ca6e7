"""Peer systems run in the same benchmark as idmatch, on the same images.

* ``opencv``: YuNet + SFace as OpenCV's FaceDetectorYN / FaceRecognizerSF use them out of the box
  (full-resolution detection, first face, ``alignCrop`` + ``feature``, cosine). The samples' score
  threshold 0.9 misses 49 LFW images here; 0.6 misses none and reproduces EVALUATION.md's reference
  row (98.93 %), so the peer runs at 0.6 -- the fairer comparison.
* ``dlib``: face_recognition 1.3.0 (dlib HOG detector, 128-d ResNet, score = -distance).
  Install with ``pip install -e '.[bench]' && pip install --no-deps face_recognition==1.3.0``.
"""
from __future__ import annotations

import cv2
import numpy as np

from idmatch.errors import NoFaceError
from idmatch.models.weights import sface_path, yunet_path


class OpenCVPeer:
    def __init__(self, score_threshold: float = 0.6) -> None:
        self.name = f"opencv-yunet{score_threshold:g}-sface"
        self.det = cv2.FaceDetectorYN.create(str(yunet_path()), "", (320, 320), score_threshold, 0.3, 5000)
        self.rec = cv2.FaceRecognizerSF.create(str(sface_path()), "")

    def embed(self, path: str) -> np.ndarray:
        img = cv2.imread(path)
        if img is None:
            raise NoFaceError(f"unreadable {path}", code="bad_image")
        self.det.setInputSize((img.shape[1], img.shape[0]))
        _, faces = self.det.detect(img)
        if faces is None:
            raise NoFaceError("no face")
        feat = self.rec.feature(self.rec.alignCrop(img, faces[0])).reshape(-1)
        return (feat / np.linalg.norm(feat)).astype(np.float32)


class DlibPeer:
    name = "face_recognition-dlib"

    def __init__(self) -> None:
        import face_recognition  # noqa: F401  (benchmark-only extra)

        self.fr = face_recognition

    def embed(self, path: str) -> np.ndarray:
        img = self.fr.load_image_file(path)
        locs = self.fr.face_locations(img)
        if not locs:
            raise NoFaceError("no face")
        enc = self.fr.face_encodings(img, known_face_locations=locs[:1])
        return np.asarray(enc[0], dtype=np.float64)


def dlib_scores(templates: dict, img1: list[str], img2: list[str]) -> np.ndarray:
    """face_recognition scores pairs by Euclidean distance; we use -distance as the score."""
    out = np.full(len(img1), -np.inf)
    for k, (a, b) in enumerate(zip(img1, img2)):
        ta, tb = templates.get(a), templates.get(b)
        if ta is not None and tb is not None:
            out[k] = -float(np.linalg.norm(ta - tb))
    return out
