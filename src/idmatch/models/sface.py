"""SFace recognizer (OpenCV Zoo, 2021dec, int8 block-quantised): 128-d embeddings of 112x112 crops.

Run through ``cv2.dnn`` directly (batching, no alignCrop) -- the aligned crop is
made by :mod:`idmatch.align`, so any 5-point recognizer can share it.
"""
from __future__ import annotations

import threading

import cv2
import numpy as np

from .weights import sface_path


class SFaceRecognizer:
    name = "sface"
    dim = 128
    input_size = (112, 112)

    def __init__(self) -> None:
        self._path = str(sface_path())
        self._local = threading.local()

    def _net(self) -> cv2.dnn.Net:
        net = getattr(self._local, "net", None)
        if net is None:
            net = self._local.net = cv2.dnn.readNetFromONNX(self._path)
        return net

    def embed(self, aligned_bgr: np.ndarray) -> np.ndarray:
        single = aligned_bgr.ndim == 3
        batch = aligned_bgr[None] if single else aligned_bgr
        # SFace takes RGB in [0, 255], NCHW, no mean/std (as cv2.FaceRecognizerSF does).
        # One crop per forward: the int8bq graph is fixed at batch 1 (batch 2 returns garbage in
        # cv2.dnn; onnxruntime cannot run the file as shipped, its weights are declared as inputs).
        net = self._net()
        out = np.empty((len(batch), self.dim), dtype=np.float32)
        for i, crop in enumerate(batch):
            net.setInput(cv2.dnn.blobFromImage(crop, 1.0, self.input_size, (0, 0, 0), swapRB=True, crop=False))
            out[i] = net.forward().reshape(-1)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out[0] if single else out
