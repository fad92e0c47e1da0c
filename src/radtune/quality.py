"""Image quality score in [0, 1] for radiographs.

Inputs: the histogram of the STORED values (detector units, before any LUT), the range the
detector can store (2**BitsStored values; 8-bit image files: 0..255), and the rendered
8-bit image at the analysis size (512 letterbox) with its non-padding mask.

Components (each in [0, 1]):

* ``exposure`` = range * clipping. range: spread p1..p99 of the stored values (min/max bins
  holding > 2% of the pixels -- constant border, collimation -- excluded) as a fraction
  of the detector range, ramped linearly from SPREAD_BAD (0) to SPREAD_GOOD (1).
  clipping: fraction of pixels at the detector floor/ceiling; no penalty up to CLIP_OK,
  0 at CLIP_OK + CLIP_SPAN (a large direct-exposure/saturated area is normal).
* ``contrast``: coefficient of variation std/mean of the rendered content, / CV_GOOD, capped.
* ``sharpness``: 1 - exp(-var(Laplacian) / LAPLACIAN_SCALE) on the rendered content.
* ``noise``: 1 - ramp of sigma/std where sigma is Immerkaer's (1996) fast noise estimate on
  the rendered content and std the content's standard deviation; ramp from NOISE_OK (no
  penalty) to NOISE_OK + NOISE_SPAN (0).

score = sum(WEIGHTS[k] * component[k]). Calibrated so that well-exposed radiographs score
>= 0.9 and an underexposed one (stored spread < ~8% of range, noisy) falls clearly below
the default threshold 0.85.
"""

from __future__ import annotations

import cv2
import numpy as np

from radtune.pixels import drop_border_bins, weighted_percentiles

WEIGHTS = {"exposure": 0.35, "noise": 0.25, "contrast": 0.2, "sharpness": 0.2}
SPREAD_BAD, SPREAD_GOOD = 0.04, 0.25
CLIP_OK, CLIP_SPAN = 0.30, 0.40
CV_GOOD = 0.30
LAPLACIAN_SCALE = 25.0
NOISE_OK, NOISE_SPAN = 0.04, 0.20
# Immerkaer's kernel: difference of two Laplacians, blind to planes and ramps
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)


def _ramp(x: float, zero_at: float, one_at: float) -> float:
    """Linear ramp clipped to [0, 1] (works in both directions)."""
    return float(np.clip((x - zero_at) / (one_at - zero_at), 0.0, 1.0))


def exposure_measures(values: np.ndarray, counts: np.ndarray, detector_range: tuple[float, float]) -> dict[str, float]:
    """spread (p1..p99 / detector range, constant border bins excluded as in the auto
    window) and clipped (fraction of all pixels at the detector floor or ceiling)."""
    order = np.argsort(values, kind="stable")
    v, c = np.asarray(values, dtype=np.float64)[order], np.asarray(counts, dtype=np.float64)[order]
    lo, hi = detector_range
    span = max(hi - lo, 1e-12)
    clipped = float(c[(v <= lo) | (v >= hi)].sum() / c.sum())
    v, c, _ = drop_border_bins(v, c)
    p1, p99 = weighted_percentiles(v, c, (1.0, 99.0))
    spread = (p99 - p1) / span
    return {"spread": float(np.clip(spread, 0.0, 1.0)), "clipped": clipped}


def image_measures(image: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Contrast, Laplacian variance and noise of the rendered image inside ``mask``."""
    x = image.astype(np.float64)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if inner.sum() < 16:
        inner = mask
    content = x[mask]
    mean, std = float(content.mean()), float(content.std())
    lap = cv2.Laplacian(x, cv2.CV_64F, ksize=1)[inner]
    conv = cv2.filter2D(x, cv2.CV_64F, _IMMERKAER, borderType=cv2.BORDER_REPLICATE)[inner]
    sigma = float(np.sqrt(np.pi / 2.0) * np.abs(conv).mean() / 6.0)
    return {
        "cv": std / max(mean, 1.0),
        "laplacian_var": float(lap.var()),
        "noise_sigma": sigma,
        "noise_ratio": sigma / max(std, 1.0),
    }


def assess(
    values: np.ndarray,
    counts: np.ndarray,
    detector_range: tuple[float, float],
    image: np.ndarray,
    mask: np.ndarray | None = None,
) -> dict:
    """Quality of one image: {"score", "components", "measures"}, floats rounded to 4 places.

    ``values``/``counts``: histogram of stored values (e.g. ``np.unique(a, return_counts=True)``);
    ``detector_range``: (min, max) storable value, e.g. (0, 4095) for 12 bits;
    ``image``: rendered uint8 image; ``mask``: its non-padding area (default: all)."""
    if mask is None:
        mask = np.ones(image.shape, dtype=bool)
    e = exposure_measures(values, counts, detector_range)
    m = image_measures(image, mask)
    components = {
        "exposure": _ramp(e["spread"], SPREAD_BAD, SPREAD_GOOD) * _ramp(e["clipped"], CLIP_OK + CLIP_SPAN, CLIP_OK),
        "contrast": _ramp(m["cv"], 0.0, CV_GOOD),
        "sharpness": float(1.0 - np.exp(-m["laplacian_var"] / LAPLACIAN_SCALE)),
        "noise": _ramp(m["noise_ratio"], NOISE_OK + NOISE_SPAN, NOISE_OK),
    }
    score = sum(WEIGHTS[k] * components[k] for k in WEIGHTS)
    return {
        "score": round(float(np.clip(score, 0.0, 1.0)), 4),
        "components": {k: round(float(v), 4) for k, v in components.items()},
        "measures": {k: round(float(v), 4) for k, v in {**e, **m}.items()},
    }
