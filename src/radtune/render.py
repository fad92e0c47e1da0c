"""The single entry point of the pixel pipeline: ``render_file``.

``normalize`` (the pipeline stage), ``radtune convert`` and ``radtune inspect`` all go
through :func:`render_file`, so an image converted by hand is byte-identical to the one the
pipeline writes with the same options.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from radtune import imaging, pixels, quality
from radtune.errors import ConfigError
from radtune.imaging import encode_image  # noqa: F401  (re-exported for callers)
from radtune.io import write_bytes_atomic
from radtune.windows import check_percentiles

#: quality is always measured on a letterbox of this size, whatever ``size`` the caller wants
ANALYSIS_SIZE = 512


@dataclass(frozen=True)
class Rendered:
    """One rendered image and everything decided on the way (see module docs)."""

    image: np.ndarray
    padding: dict[str, int]
    scale: float
    source_shape: tuple[int, int]
    decision: dict
    quality: dict
    header: dict


def _check_size(size: int) -> int:
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 0:
        raise ConfigError(f"size: must be an integer >= 0 (0 keeps the native size), got {size!r}")
    return int(size)


def render_file(
    path: Path,
    *,
    window: str = "file",
    size: int = 512,
    auto_percentiles: tuple[float, float] = (1.0, 99.0),
) -> Rendered:
    """Decode ``path`` (DICOM/JPG/PNG), map it to 8 bits, letterbox it to ``size`` and
    score its quality. Raises InputRejected (bad file) or ConfigError (bad option)."""
    path = Path(path)
    spec = pixels.parse_window(window)
    size = _check_size(size)
    pcts = check_percentiles(auto_percentiles)
    src = pixels.load(path)
    shown = pixels.display(src, spec, path, pcts)
    image, padding, scale = imaging.letterbox(shown.image, size)
    if size == ANALYSIS_SIZE:
        analysis, apad = image, padding
    else:
        analysis, apad, _ = imaging.letterbox(shown.image, ANALYSIS_SIZE)
    # the stored values' statistics: one source pixel per analysis pixel is plenty
    h, w = src.stored.shape[:2]
    ah, aw, _ = imaging.fit(h, w, ANALYSIS_SIZE)
    step = max(1, min(h // ah, w // aw))
    sample = src.stored[step // 2 :: step, step // 2 :: step]
    q = quality.assess(sample, shown.detector_range, analysis, imaging.content_mask(analysis.shape, apad))
    return Rendered(
        image=image,
        padding=padding,
        scale=round(scale, 6),
        source_shape=(int(h), int(w)),
        decision=shown.decision,
        quality=q,
        header=dict(src.header),
    )


def render_colour_file(path: Path, size: int = 512) -> Rendered:
    """The colour path (e.g. fundus photographs): decode ``path`` (colour DICOM/JPG/PNG) to
    8-bit RGB, letterbox it to ``size`` (image is (size, size, 3) RGB) and score it with
    :func:`radtune.quality.colour.assess_colour` on the source pixels. ``decision["colour"]``
    names the Photometric Interpretation and its conversion ("RGB", "YBR_FULL_422 -> RGB",
    "BGR -> RGB"). Raises InputRejected (bad file) or ConfigError (bad option)."""
    from radtune.pixels.colour import load_rgb_decision
    from radtune.quality.colour import assess_colour

    path = Path(path)
    size = _check_size(size)
    rgb, decision, header = load_rgb_decision(path)
    image, padding, scale = imaging.letterbox(rgb, size)
    return Rendered(
        image=image,
        padding=padding,
        scale=round(scale, 6),
        source_shape=(int(rgb.shape[0]), int(rgb.shape[1])),
        decision={**decision, "colour": decision.get("colour") or "RGB"},
        quality=assess_colour(rgb),
        header=dict(header),
    )


def convert_file(src: Path, dst: Path, *, window: str = "file", size: int = 512) -> None:
    """Render ``src`` and write it to ``dst`` (.jpg/.jpeg/.png by suffix) atomically;
    nothing is written on error."""
    dst = Path(dst)
    try:
        fmt = imaging.format_for_suffix(dst.suffix)
    except ValueError as e:
        raise ConfigError(f"dst: {e}") from None
    rendered = render_file(Path(src), window=window, size=size)
    write_bytes_atomic(dst, encode_image(rendered.image, fmt))


# Tags shown by ``inspect``: none of them identifies a patient, a study or an institution.
_INSPECT_TAGS = (
    "Modality",
    "BodyPartExamined",
    "ViewPosition",
    "PhotometricInterpretation",
    "SamplesPerPixel",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
    "PresentationLUTShape",
)


def _plain(value: Any) -> Any:
    """DICOM value -> JSON-able (multi-values become lists)."""
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return [_plain(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def _lut_summary(seq: Any) -> dict | None:
    """Presence and size of a LUT sequence (no data)."""
    if not seq:
        return None
    items = []
    for item in seq:
        desc = item.get("LUTDescriptor")
        data = item.get("LUTData")
        n = (
            len(data) // 2
            if isinstance(data, (bytes, bytearray))
            else (len(data) if data is not None and not isinstance(data, int) else 0)
        )
        items.append({"descriptor": _plain(list(desc)) if desc is not None else None, "entries": n})
    return {"items": len(items), "luts": items}


def inspect_file(path: Path, *, window: str = "file") -> dict:
    """The tags that matter for rendering plus the decision normalize would take. No PHI:
    no names, ids, dates, UIDs or institution."""
    path = Path(path)
    rendered = render_file(path, window=window, size=ANALYSIS_SIZE)
    info: dict[str, Any] = {
        "decision": rendered.decision,
        "quality": rendered.quality,
        "source_shape": list(rendered.source_shape),
    }
    if pixels.sniff(path) == "dicom":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        tags = {k: _plain(ds[k].value) for k in _INSPECT_TAGS if k in ds and ds[k].value not in (None, "")}
        tags["TransferSyntax"] = rendered.decision.get("transfer_syntax")
        tags["VOILUTSequence"] = _lut_summary(ds.get("VOILUTSequence"))
        tags["ModalityLUTSequence"] = _lut_summary(ds.get("ModalityLUTSequence"))
        info["tags"] = tags
    else:
        info["tags"] = {"TransferSyntax": rendered.decision.get("transfer_syntax")}
    return info
