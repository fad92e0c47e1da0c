"""Histograms of stored values and the statistics taken from them: the value/count
histogram, nearest-rank weighted percentiles and the constant-border bins that the ``auto``
window and the quality score ignore.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from radtune.pixels.lut import lut_domain, unsigned_view

#: a histogram is built from every 2nd row/column above this many pixels (exact min/max kept)
HIST_SAMPLE_ABOVE = 1_000_000
#: an extreme histogram bin (min or max value) holding more than this fraction of pixels is
#: treated as constant border / collimation / saturation and ignored by ``auto``
BORDER_FRACTION = 0.02


def histogram(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, counts) of the values present in ``arr`` (sorted by value). Above
    HIST_SAMPLE_ABOVE pixels counts come from every 2nd row and column; the exact min and
    max are always present."""
    sample = arr[::2, ::2] if arr.ndim == 2 and arr.size > HIST_SAMPLE_ABOVE else arr
    domain = lut_domain(arr.dtype)
    if domain is not None:
        counts = np.bincount(unsigned_view(sample).ravel(), minlength=len(domain))
        lo, hi = unsigned_view(np.array([arr.min(), arr.max()], dtype=arr.dtype))
        counts[[lo, hi]] = np.maximum(counts[[lo, hi]], 1)
        present = np.flatnonzero(counts)
        values, counts = domain[present].astype(np.float64), counts[present]
    else:
        finite = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample.ravel()
        values, counts = np.unique(finite.astype(np.float64), return_counts=True)
        if values.size == 0:
            values, counts = np.zeros(1), np.ones(1, dtype=np.int64)
    order = np.argsort(values, kind="stable")
    return values[order], counts[order]


def weighted_percentiles(values: np.ndarray, counts: np.ndarray, pcts: Sequence[float]) -> list[float]:
    """Percentiles (nearest rank) of a value/count histogram; values need not be sorted.
    The ``auto`` window and the quality score's exposure spread both use it."""
    order = np.argsort(values, kind="stable")
    v, c = values[order], np.cumsum(counts[order])
    total = c[-1]
    return [float(v[min(np.searchsorted(c, p / 100.0 * total, side="left"), len(v) - 1)]) for p in pcts]


def drop_border_bins(values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Drop the min / max value bins when each holds > BORDER_FRACTION of the pixels
    (constant border, collimation or saturation), unless nothing would remain."""
    total = counts.sum()
    keep = np.ones(len(values), dtype=bool)
    dropped = []
    for i, name in ((int(np.argmin(values)), "min"), (int(np.argmax(values)), "max")):
        if counts[i] > BORDER_FRACTION * total:
            keep[i] = False
            dropped.append(name)
    if not keep.any():
        return values, counts, []
    return values[keep], counts[keep], dropped
