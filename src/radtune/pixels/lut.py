"""The display chain as data and pure functions (PS3.3 C.11): stored values -> Modality LUT
(:class:`Rescale` or :class:`Lut`) -> VOI (:class:`Window` with a VOI LUT Function, or
:class:`Lut`) -> MONOCHROME1 inversion -> 0..255.

The VOI output range maps linearly onto 0..255: a window's [y_min, y_max] (PS3.3
C.11.2.1.2), a VOI LUT's nominal 0 .. 2**bits - 1, and without VOI 0 .. ``identity_max``.

The LUT path: stored values of 8/16-bit integer images are bit patterns, so
:func:`apply_chain` evaluates a chain once over every pattern (:func:`lut_domain`) and looks
the image up in that table (:func:`unsigned_view`); other dtypes go element-wise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


@dataclass(frozen=True)
class Rescale:
    """Modality LUT as Rescale Slope/Intercept: y = slope * x + intercept."""

    slope: float = 1.0
    intercept: float = 0.0


@dataclass(frozen=True)
class Lut:
    """A DICOM LUT (Modality or VOI): input < first -> data[0], beyond the end -> data[-1]."""

    first: int
    data: np.ndarray
    bits: int


@dataclass(frozen=True)
class Window:
    """Window Center/Width with a VOI LUT Function (PS3.3 C.11.2.1.2 / C.11.2.1.3)."""

    center: float
    width: float
    function: str = "LINEAR"


Modality = Rescale | Lut | None
Voi = Window | Lut | None


def apply_lut(x: np.ndarray, lut: Lut) -> np.ndarray:
    """Look ``x`` up in ``lut`` with DICOM clamping at both ends."""
    idx = np.clip(np.floor(np.asarray(x, dtype=np.float64)) - lut.first, 0, len(lut.data) - 1)
    return lut.data[idx.astype(np.int64)]


def apply_modality(x: np.ndarray, modality: Modality) -> np.ndarray:
    """Stored values -> modality values (float64)."""
    x = np.asarray(x, dtype=np.float64)
    if isinstance(modality, Rescale):
        return x * modality.slope + modality.intercept
    if isinstance(modality, Lut):
        return apply_lut(x, modality).astype(np.float64)
    return x


def window_fraction(x: np.ndarray, w: Window) -> np.ndarray:
    """PS3.3 C.11.2.1.2 windowing with output range [0, 1]."""
    x = np.asarray(x, dtype=np.float64)
    if w.function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (x - w.center) / w.width))
    if w.function == "LINEAR":
        c, width = w.center - 0.5, w.width - 1.0
    else:  # LINEAR_EXACT
        c, width = w.center, w.width
    lo, hi = c - width / 2.0, c + width / 2.0
    if width <= 0:  # LINEAR with W == 1: a step at c
        return np.where(x <= lo, 0.0, 1.0)
    return np.where(x <= lo, 0.0, np.where(x > hi, 1.0, (x - c) / width + 0.5))


def voi_fraction(m: np.ndarray, voi: Voi, identity_max: float) -> np.ndarray:
    """Modality values -> fraction of the VOI output range, in [0, 1]."""
    if isinstance(voi, Window):
        return window_fraction(m, voi)
    if isinstance(voi, Lut):
        return apply_lut(m, voi).astype(np.float64) / float(2**voi.bits - 1)
    return np.clip(np.asarray(m, dtype=np.float64) / identity_max, 0.0, 1.0)


def to_uint8(frac: np.ndarray, invert: bool) -> np.ndarray:
    """[0, 1] -> 0..255 (rounded half up), inverted for MONOCHROME1."""
    out = np.floor(np.clip(frac, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return 255 - out if invert else out


@dataclass(frozen=True)
class Chain:
    """The full stored -> uint8 chain."""

    modality: Modality
    voi: Voi
    invert: bool
    identity_max: float = 255.0

    def __call__(self, stored: np.ndarray) -> np.ndarray:
        m = apply_modality(stored, self.modality)
        return to_uint8(voi_fraction(m, self.voi, self.identity_max), self.invert)


def lut_domain(dtype: np.dtype) -> np.ndarray | None:
    """All stored values of an 8/16-bit integer dtype, ordered by their unsigned bit
    pattern (so ``table[arr.view(uint)]`` indexes a table built on this domain)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu" or dtype.itemsize > 2:
        return None
    u = np.dtype(f"u{dtype.itemsize}")
    return np.arange(2 ** (8 * dtype.itemsize), dtype=np.int64).astype(u).view(dtype.newbyteorder("="))


def unsigned_view(arr: np.ndarray) -> np.ndarray:
    """The bit patterns of an 8/16-bit integer array as unsigned ints (native order)."""
    arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    return arr.view(f"u{arr.dtype.itemsize}")


def apply_chain(stored: np.ndarray, chain: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, str]:
    """Apply the chain: one table lookup for 8/16-bit integers, element-wise otherwise."""
    domain = lut_domain(stored.dtype)
    if domain is None:
        return chain(stored), "elementwise"
    table = chain(domain)
    return np.take(table, unsigned_view(stored)), f"lut[{len(domain)}]"
