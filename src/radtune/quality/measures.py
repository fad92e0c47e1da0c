"""Raw measures on the anatomy (see :mod:`radtune.quality` for what they mean and how
they become components). Every function is pure and takes boolean anatomy masks."""

from __future__ import annotations

import cv2
import numpy as np

from radtune.pixels.histogram import weighted_percentiles

#: percentiles that bound the anatomy's value spread (robust to a few outliers)
SPREAD_PERCENTILES = (1.0, 99.0)
# Immerkaer's kernel: difference of two Laplacians, blind to planes and ramps. Integer
# weights on 8-bit values give integers within +-16 x 255: filtered into int16, exactly
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
_NOISE_MIN_PIXELS = 64
#: edges: the steepest EDGE_TOP_FRACTION of the anatomy's pixels, step height taken
#: within EDGE_REACH pixels (a step blurred up to sigma ~5 px fits), EDGE_QUANTILE of widths
EDGE_TOP_FRACTION = 0.02
EDGE_REACH = 12
EDGE_QUANTILE = 0.10


def source_mask(mask: np.ndarray, content: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``mask`` (analysis geometry: a letterbox whose non-padding area is ``content``)
    mapped back onto the source image of ``shape`` (nearest neighbour)."""
    rows, cols = np.flatnonzero(content.any(axis=1)), np.flatnonzero(content.any(axis=0))
    if rows.size == 0:
        return np.zeros(shape, dtype=bool)
    crop = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.uint8)
    return cv2.resize(crop, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST).astype(bool)


def clipped(values: np.ndarray, value_range: tuple[float, float]) -> tuple[float, float]:
    """Fractions of ``values`` at or beyond the floor / ceiling of ``value_range``."""
    if values.size == 0:
        return 0.0, 0.0
    lo, hi = value_range
    return np.count_nonzero(values <= lo) / values.size, np.count_nonzero(values >= hi) / values.size


def percentiles(v: np.ndarray, pcts: tuple[float, ...]) -> list[float]:
    """``np.percentile(v, pcts, method="inverted_cdf")``; 8/16-bit integers through a
    histogram (same values, no sort of the million stored values of a radiograph)."""
    if v.dtype.kind in "iu" and v.dtype.itemsize <= 2:
        lo = int(v.min())
        counts = np.bincount((v.astype(np.int32) - lo).ravel())
        return weighted_percentiles(np.arange(lo, lo + len(counts), dtype=np.float64), counts, pcts)
    return [float(p) for p in np.percentile(v, pcts, method="inverted_cdf")]


def value_range_use(values: np.ndarray, value_range: tuple[float, float]) -> dict[str, float]:
    """How the anatomy's values use the available range (detector range for stored values,
    0..255 for a displayed image): ``spread`` = (p99 - p1) / range, ``clipped_low`` /
    ``clipped_high`` = fractions at or beyond the floor / ceiling."""
    lo, hi = value_range
    if values.size == 0:
        return {"spread": 0.0, "clipped_low": 0.0, "clipped_high": 0.0}
    v = values.ravel()
    p_lo, p_hi = percentiles(v, SPREAD_PERCENTILES)
    low, high = clipped(v, value_range)
    span = max(hi - lo, 1e-12)
    return {
        "spread": float(np.clip((float(p_hi) - float(p_lo)) / span, 0.0, 1.0)),
        "clipped_low": low,
        "clipped_high": high,
    }


def _inner(mask: np.ndarray) -> np.ndarray:
    """``mask`` eroded by one pixel (filters must not straddle its edge), or ``mask`` if
    too little would remain."""
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return inner if inner.sum() >= _NOISE_MIN_PIXELS else mask


def noise_sigma(image: np.ndarray, mask: np.ndarray) -> float:
    """Immerkaer's (1996) fast noise estimate (grey levels) inside ``mask``."""
    inner = _inner(mask)
    if not inner.any():
        return 0.0
    conv = cv2.filter2D(image, cv2.CV_16S, _IMMERKAER, borderType=cv2.BORDER_REPLICATE)
    return float(np.sqrt(np.pi / 2.0) * np.abs(conv[inner]).mean(dtype=np.float64) / 6.0)


def display_spread(image: np.ndarray, mask: np.ndarray) -> float:
    """p1..p99 of the displayed anatomy, in grey levels (0 when there is none)."""
    if not mask.any():
        return 0.0
    p_lo, p_hi = percentiles(image[mask], SPREAD_PERCENTILES)
    return float(p_hi - p_lo)


def edge_width(image: np.ndarray, mask: np.ndarray) -> float:
    """Width of the anatomy's sharpest edges, as the Gaussian sigma (pixels) of a step
    blurred to look like them. A step of height H blurred with sigma s has a steepest
    gradient H / (s * sqrt(2 pi)). At the EDGE_TOP_FRACTION steepest pixels inside
    ``mask`` (Sobel gradient), H is the grey-level range within EDGE_REACH pixels and s is
    estimated; the EDGE_QUANTILE quantile of s is returned -- a blurred image has no sharp
    edge anywhere, while a sharp one may also show soft edges (soft tissue, a low-contrast
    skin line). Independent of window and contrast; 0 when the anatomy has no edge."""
    inner = _inner(mask)
    if not inner.any():
        return 0.0
    grad = gradient(image)
    cut = float(np.quantile(grad[inner], 1.0 - EDGE_TOP_FRACTION))
    steep = inner & (grad >= cut) & (grad > 0)
    if not steep.any():
        return 0.0
    kernel = np.ones((2 * EDGE_REACH + 1, 2 * EDGE_REACH + 1), np.uint8)
    step = cv2.subtract(cv2.dilate(image, kernel), cv2.erode(image, kernel))[steep].astype(np.float32)
    return float(np.quantile(step / (grad[steep] * np.sqrt(2.0 * np.pi)), EDGE_QUANTILE))


def gradient(image: np.ndarray) -> np.ndarray:
    """|3x3 Sobel gradient| / 8 (grey levels per pixel), float32, of a uint8 or float32 image.

    Computed as sqrt(gx*gx + gy*gy) with numpy, whose float32 arithmetic is IEEE's
    element by element, not with cv2.magnitude: its SIMD square root is not correctly
    rounded and is taken or not depending on where the arrays lie in memory (their 64-byte
    alignment), so the same image gave values 1 ulp apart from one run to the next. On a
    uint8 image the derivatives are exact integers (int16 from OpenCV, |value| <= 4 x 255)
    and their squared sum is exact in float32 (< 2**24)."""
    depth = cv2.CV_16S if image.dtype == np.uint8 else cv2.CV_32F
    gx, gy = (cv2.Sobel(image, depth, dx, 1 - dx, ksize=3).astype(np.float32, copy=False) for dx in (1, 0))
    squared = gx * gx
    squared += gy * gy
    return np.sqrt(squared, out=squared) / np.float32(8.0)
