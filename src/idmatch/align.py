"""5-point similarity alignment to the 112x112 ArcFace/SFace template."""
from __future__ import annotations

import cv2
import numpy as np

# Reference points of the 112x112 template (insightface / OpenCV FaceRecognizerSF).
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama 1991) mapping ``src`` points onto ``dst``: a 2x3 matrix."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = src.shape[0]
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / n
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    r = u @ np.diag(sign) @ vt
    var_s = (s ** 2).sum() / n
    scale = (sig * sign).sum() / var_s
    t = mu_d - scale * r @ mu_s
    return np.hstack([scale * r, t[:, None]])


def align_face(img_bgr: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """Warp the face so its 5 landmarks land on the template; returns (size, size, 3) BGR."""
    dst = TEMPLATE_112 * (size / 112.0)
    pts = np.asarray(landmarks, dtype=np.float64)
    m = similarity_transform(pts, dst)
    scale = float(np.hypot(m[0, 0], m[0, 1]))
    if scale < 0.5:  # big face: area-downscale first so the warp does not alias
        f = min(1.0, 2.0 * scale)
        img_bgr = cv2.resize(img_bgr, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        pts = pts * f
        m = similarity_transform(pts, dst)
    return cv2.warpAffine(img_bgr, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
