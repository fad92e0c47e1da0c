"""The display chain as data and pure functions (PS3.3 C.11): stored values -> Modality LUT
(:class:`Rescale` or :class:`Lut`) -> VOI (:class:`Window` with a VOI LUT Function, or
:class:`Lut`) -> MONOCHROME1 inversion -> 0..255.

The VOI output range maps linearly onto 0..255: a window's [y_min, y_max] (PS3.3
C.11.2.1.2), a VOI LUT's nominal 0 .. 2**bits - 1, and without VOI 0 .. ``identity_max``.

The LUT path: stored values of 8/16-bit integer images are bit patterns, so
:func:`apply_chain` evaluates a chain once over every pattern (:func:`lut_domain`) and looks
the image up in that table (:func:`unsigned_view`); other dtypes go element-wise. A chain
that is one straight line clipped at both ends (a Rescale with a positive slope, or none,
and a linear window, or none: most radiographs and every CT) is applied with OpenCV's
saturating arithmetic instead, ~4x faster than the lookup, and only when that gives the
table's value for every stored value between the image's minimum and maximum (checked on
those values: float rounding at exact halves can differ), so the image is the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
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

    def line(self) -> tuple[float, float] | None:
        """(a, b) such that the chain before the MONOCHROME1 inversion is
        clip(a * x + b, 0, 255) rounded, or None when it is not one increasing line (a
        LUT, a sigmoid, a step, a negative slope)."""
        mod = self.modality if self.modality is not None else Rescale()
        if not isinstance(mod, Rescale) or mod.slope <= 0:
            return None
        if isinstance(self.voi, Window) and self.voi.function in ("LINEAR", "LINEAR_EXACT"):
            exact = self.voi.function == "LINEAR_EXACT"
            c, width = (self.voi.center, self.voi.width) if exact else (self.voi.center - 0.5, self.voi.width - 1.0)
            if width <= 0:
                return None
            return 255.0 * mod.slope / width, 255.0 * ((mod.intercept - c) / width + 0.5)
        if self.voi is None:
            return 255.0 * mod.slope / self.identity_max, 255.0 * mod.intercept / self.identity_max
        return None


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
    image = _on_line(stored, chain) if isinstance(chain, Chain) and stored.ndim == 2 else None
    if image is None:
        image = np.take(chain(domain), unsigned_view(stored))
    return image, f"lut[{len(domain)}]"


def _line_uint8(x: np.ndarray, a: float, b: float) -> np.ndarray | None:
    """round(clip(a * x + b, 0, 255)) for a 2-D 8/16-bit integer ``x`` with OpenCV's
    saturating arithmetic: x is shifted by an integer ``floor`` where the line is within
    half a grey level of 0 and clipped at 0 there, so convertScaleAbs's absolute value and
    its saturation at 255 do the clipping. None when no such shift exists (a > 1: a window
    narrower than 255 stored values) or it does not fit the dtype."""
    info = np.iinfo(x.dtype)
    floor = int(np.ceil(-b / a - 0.5 / a))  # the lowest integer with a * floor + b >= -0.5
    if a * floor + b >= 0.5 or floor > info.max:
        return None
    if floor > info.min:
        x = cv2.subtract(x, floor)  # saturates at 0 for unsigned x
        if info.min < 0:
            x = cv2.max(x, 0)
        b += a * floor
    elif b <= -0.5:
        return None
    return cv2.convertScaleAbs(x, alpha=a, beta=b)


def _on_line(stored: np.ndarray, chain: Chain) -> np.ndarray | None:
    """``chain`` on ``stored`` through :func:`_line_uint8`, or None unless the chain is one
    line (:meth:`Chain.line`) and that gives the chain's own value (the table's) for every
    value from the image's minimum to its maximum."""
    line = chain.line()
    if line is None:
        return None
    stored = np.ascontiguousarray(stored, dtype=stored.dtype.newbyteorder("="))
    lo, hi = cv2.minMaxLoc(stored)[:2]
    values = np.arange(int(lo), int(hi) + 1).astype(stored.dtype)[None, :]
    image, check = (_line_uint8(v, *line) for v in (stored, values))
    if image is None or check is None:
        return None
    if chain.invert:
        image, check = cv2.bitwise_not(image), cv2.bitwise_not(check)
    return image if np.array_equal(check[0], chain(values[0])) else None
