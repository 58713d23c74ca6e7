"""YuNet face detector (OpenCV Zoo, 2023mar, int8 block-quantised) via cv2.FaceDetectorYN."""
from __future__ import annotations

import threading

import cv2
import numpy as np

from .base import DetectedFace
from .weights import yunet_path


class YuNetDetector:
    name = "yunet"

    def __init__(self, score_threshold: float = 0.6, nms_threshold: float = 0.3, top_k: int = 50):
        self.score_threshold = score_threshold
        self._nms = nms_threshold
        self._top_k = top_k
        self._path = str(yunet_path())
        self._local = threading.local()  # cv2 detectors hold per-call state: one per thread

    def _net(self, threshold: float) -> cv2.FaceDetectorYN:
        nets = getattr(self._local, "nets", None)
        if nets is None:
            nets = self._local.nets = {}
        net = nets.get(threshold)
        if net is None:
            net = cv2.FaceDetectorYN.create(self._path, "", (320, 320), threshold, self._nms, 5000)
            net.setTopK(self._top_k)
            nets[threshold] = net
        return net

    def detect(self, img_bgr: np.ndarray, score_threshold: float | None = None) -> list[DetectedFace]:
        thr = float(self.score_threshold if score_threshold is None else score_threshold)
        net = self._net(round(thr, 4))
        h, w = img_bgr.shape[:2]
        net.setInputSize((w, h))
        _, faces = net.detect(img_bgr)
        if faces is None:
            return []
        out = []
        for f in faces:
            out.append(
                DetectedFace(
                    box=(float(f[0]), float(f[1]), float(f[2]), float(f[3])),
                    landmarks=np.asarray(f[4:14], dtype=np.float32).reshape(5, 2),
                    score=float(f[14]),
                )
            )
        return out
