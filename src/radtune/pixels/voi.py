"""Window (VOI) decisions and the display entry point: the Modality LUT and VOI a source
gets for a ``window`` option (file / auto / minmax / preset / user), each described in words
for the decision record, and :func:`display`, which applies the chain.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from radtune.pixels.decode import Source
from radtune.pixels.histogram import drop_border_bins, histogram, weighted_percentiles
from radtune.pixels.lut import VOI_FUNCTIONS, Chain, Modality, Rescale, Voi, Window, apply_chain, apply_modality
from radtune.pixels.tags import _first_number, _get, read_lut, reject
from radtune.windows import WindowSpec


def _fmt(x: float) -> str:
    """A number as the decision descriptions write it (6 significant digits)."""
    return f"{x:.6g}"


def modality_of(src: Source, path: Path) -> tuple[Modality, str]:
    """The Modality LUT of a monochrome DICOM (none for colour / image files)."""
    ds = src.ds
    if ds is None or src.display_ready:
        return None, "none"
    seq = _get(ds, path, "ModalityLUTSequence")
    if seq:
        return read_lut(ds, seq[0], path, "(0028,3000) Modality LUT Sequence", src.signed), "lut"
    slope = _first_number(ds, path, "RescaleSlope")
    intercept = _first_number(ds, path, "RescaleIntercept")
    if slope is None and intercept is None:
        return None, "none"
    s, b = (slope[0] if slope else 1.0), (intercept[0] if intercept else 0.0)
    if not (math.isfinite(s) and math.isfinite(b)) or s == 0:
        raise reject(path, f"(0028,1053) Rescale Slope {s} / (0028,1052) Rescale Intercept {b} is invalid")
    return Rescale(s, b), f"rescale slope={_fmt(s)} intercept={_fmt(b)}"


def file_voi(src: Source, path: Path) -> tuple[Voi, str, dict[str, Any]] | None:
    """The VOI the file asks for (VOI LUT Sequence first, then the first window), or None."""
    ds = src.ds
    if ds is None or src.display_ready:
        return None
    seq = _get(ds, path, "VOILUTSequence")
    if seq:
        lut = read_lut(ds, seq[0], path, "(0028,3010) VOI LUT Sequence", src.signed)
        return lut, f"voi_lut_sequence[0] (1 of {len(seq)})", {"voi_output_range": [0, 2**lut.bits - 1]}
    c = _first_number(ds, path, "WindowCenter")
    w = _first_number(ds, path, "WindowWidth")
    if c is None or w is None:
        return None
    func = str(_get(ds, path, "VOILUTFunction", default="LINEAR")).strip().upper() or "LINEAR"
    if func not in VOI_FUNCTIONS:
        raise reject(path, f"(0028,1056) VOI LUT Function '{func}' is not one of {', '.join(VOI_FUNCTIONS)}")
    if not (math.isfinite(c[0]) and math.isfinite(w[0])):
        raise reject(path, "(0028,1050) Window Center / (0028,1051) Window Width must be finite")
    if func == "LINEAR" and w[0] < 1:
        raise reject(path, f"(0028,1051) Window Width must be >= 1 for LINEAR (is {_fmt(w[0])})")
    if func != "LINEAR" and w[0] <= 0:
        raise reject(path, f"(0028,1051) Window Width must be > 0 for {func} (is {_fmt(w[0])})")
    fn = "" if func == "LINEAR" else f" {func}"
    return Window(c[0], w[0], func), f"window C={_fmt(c[0])} W={_fmt(w[0])}{fn} (file, 1 of {max(c[1], w[1])})", {}


def exact_window(lo: float, hi: float) -> Window:
    """A LINEAR_EXACT window mapping lo -> 0 and hi -> 1 (width >= tiny for flat images)."""
    width = max(hi - lo, 1e-6)
    return Window((lo + hi) / 2.0, width, "LINEAR_EXACT")


def choose_voi(
    src: Source,
    spec: WindowSpec,
    path: Path,
    modality: Modality,
    hist: Callable[[], tuple[np.ndarray, np.ndarray]],
    auto_percentiles: tuple[float, float],
) -> tuple[Voi, str, dict[str, Any]]:
    """Decide the VOI for ``spec``; returns (voi, description, extra decision fields).
    ``hist()`` gives the stored values' histogram (built only for the windows that need it)."""
    if spec.kind == "preset":
        return Window(spec.center, spec.width), f"preset {spec.name} C={_fmt(spec.center)} W={_fmt(spec.width)}", {}
    if spec.kind == "user":
        return Window(spec.center, spec.width), f"window C={_fmt(spec.center)} W={_fmt(spec.width)} (user)", {}
    if spec.kind == "file":
        found = file_voi(src, path)
        if found is not None:
            return found
        if src.display_ready:
            top = 2**src.bits_stored - 1
            return None, f"none (display values 0..{top})", {}
    values, counts = hist()
    mvals = apply_modality(values, modality)
    if spec.kind == "minmax":
        lo, hi = float(mvals.min()), float(mvals.max())
        return exact_window(lo, hi), f"minmax {_fmt(lo)}..{_fmt(hi)}", {}
    v, c, dropped = drop_border_bins(mvals, counts)
    p_lo, p_hi = auto_percentiles
    lo, hi = weighted_percentiles(v, c, (p_lo, p_hi))
    if hi <= lo:
        lo, hi = float(v.min()), float(v.max())
    note = f", ignoring {'+'.join(dropped)} border bin" if dropped else ""
    prefix = "auto" if spec.kind == "auto" else "auto (no window in file)"
    return exact_window(lo, hi), f"{prefix} p{_fmt(p_lo)}..p{_fmt(p_hi)} {_fmt(lo)}..{_fmt(hi)}{note}", {}


@dataclass(frozen=True)
class Display:
    """Result of :func:`display`: the 8-bit image, the decision and the detector range."""

    image: np.ndarray
    decision: dict[str, Any]
    detector_range: tuple[float, float]


def detector_range(src: Source, hist: Callable[[], tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """The range of storable values (float data: the data range)."""
    if src.stored.dtype.kind == "f":
        values = hist()[0]
        return float(values.min()), float(values.max())
    b = src.bits_stored
    return (-(2.0 ** (b - 1)), 2.0 ** (b - 1) - 1) if src.signed else (0.0, 2.0**b - 1)


def display(src: Source, spec: WindowSpec, path: Path, auto_percentiles: tuple[float, float] = (1.0, 99.0)) -> Display:
    """Stored values -> uint8 display image plus the decision taken."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        modality, modality_desc = modality_of(src, path)
        hist = cache(partial(histogram, src.stored))
        voi, voi_desc, extra = choose_voi(src, spec, path, modality, hist, auto_percentiles)
        invert = src.photometric == "MONOCHROME1"
        chain = Chain(modality, voi, invert, identity_max=float(2**src.bits_stored - 1))
        image, how = apply_chain(src.stored, chain)
    decision = {
        **src.decision,
        "photometric": src.photometric,
        "modality_lut": modality_desc,
        "voi": voi_desc,
        **extra,
        "inverted": invert,
        "bits_stored": int(src.bits_stored),
        "signed": bool(src.signed),
        "applied_as": how,
    }
    return Display(image=image, decision=decision, detector_range=detector_range(src, hist))
