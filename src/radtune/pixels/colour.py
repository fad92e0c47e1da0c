"""Decode an input file to 8-bit RGB (the colour path, e.g. fundus photographs): colour
DICOM through pydicom (RGB, YBR_FULL, YBR_FULL_422, YBR_ICT/YBR_RCT; Planar Configuration
0 or 1; 8 bits), JPG/PNG through OpenCV. Grey 8-bit images are replicated to 3 channels.
The file type comes from the first bytes (:func:`radtune.pixels.decode.sniff`), and every
failure is a one-line :class:`~radtune.errors.InputRejected` naming the file, as in
:mod:`radtune.pixels.decode`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from radtune.pixels.decode import (
    HEADER_KEYS,
    decode_image_file,
    first_frame,
    header_of,
    read_dicom,
    sniff,
    transfer_syntax_name,
)
from radtune.pixels.tags import _get, _get_int, reject

#: Photometric Interpretations pydicom decodes to RGB (``as_rgb``) or that already are RGB
COLOUR_PHOTOMETRICS = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420")
GREY_PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2")


def _grey_to_rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(img[..., None], 3, axis=2)


def _load_image_rgb(path: Path, kind: str) -> tuple[np.ndarray, dict[str, Any]]:
    img = decode_image_file(path, kind)
    if img.dtype != np.uint8:
        raise reject(
            path, f"{kind.upper()} image is {8 * img.dtype.itemsize}-bit; the colour path reads 8-bit images only"
        )
    decision: dict[str, Any] = {"transfer_syntax": f"{kind.upper()} file", "frames": "1 of 1"}
    if img.ndim == 2:
        rgb, decision["colour"] = _grey_to_rgb(img), "grey -> RGB (replicated)"
    elif img.shape[2] == 2:
        rgb, decision["colour"] = _grey_to_rgb(img[..., 0]), "grey+alpha -> RGB (replicated, alpha dropped)"
    else:
        rgb = img[..., 2::-1]
        decision["colour"] = "BGRA -> RGB (alpha dropped)" if img.shape[2] == 4 else "BGR -> RGB"
    return np.ascontiguousarray(rgb), decision


def _load_dicom_rgb(path: Path) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
    ds = read_dicom(path)
    if "PixelData" not in ds:
        raise reject(path, "(7FE0,0010) Pixel Data is missing (float pixel data is not a colour image)")
    photometric = str(_get(ds, path, "PhotometricInterpretation", required=True)).strip().upper()
    samples = _get_int(ds, path, "SamplesPerPixel", required=True)
    for kw in ("Rows", "Columns"):
        _get_int(ds, path, kw, required=True)
    bits = _get_int(ds, path, "BitsAllocated", required=True)
    if bits != 8:
        raise reject(path, f"(0028,0100) Bits Allocated is {bits}; the colour path reads 8-bit images only")
    if _get_int(ds, path, "PixelRepresentation", default=0) != 0:
        raise reject(
            path, "(0028,0103) Pixel Representation is 1 (signed); the colour path reads unsigned 8-bit images"
        )
    if photometric in COLOUR_PHOTOMETRICS:
        if samples != 3:
            raise reject(path, f"(0028,0002) Samples per Pixel is {samples}, but '{photometric}' needs 3")
        planar = _get_int(ds, path, "PlanarConfiguration", default=0)
        if planar not in (0, 1):
            raise reject(path, f"(0028,0006) Planar Configuration must be 0 or 1, got {planar}")
    elif photometric not in GREY_PHOTOMETRICS:
        raise reject(
            path, f"(0028,0004) Photometric Interpretation '{photometric}' is not supported by the colour path"
        )
    frames = _get_int(ds, path, "NumberOfFrames", default=1) or 1
    arr = first_frame(ds, path, frames)  # pydicom converts YBR_* to RGB (as_rgb=True)
    decision: dict[str, Any] = {
        "transfer_syntax": transfer_syntax_name(ds),
        "frames": f"1 of {frames}" if frames == 1 else f"first of {frames}",
    }
    if arr.ndim == 2:
        if photometric == "MONOCHROME1":
            arr = 255 - arr.astype(np.uint8)
        arr, decision["colour"] = _grey_to_rgb(arr), f"{photometric} -> RGB (replicated)"
    elif arr.ndim != 3 or arr.shape[2] != 3:
        raise reject(path, f"(7FE0,0010) Pixel Data decodes to shape {arr.shape}, not (rows, columns, 3)")
    else:
        decision["colour"] = photometric if photometric == "RGB" else f"{photometric} -> RGB"
    return np.ascontiguousarray(arr, dtype=np.uint8), decision, header_of(ds)


def load_rgb_decision(path: str | Path) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
    """:func:`load_rgb` plus what was decided on the way ({"transfer_syntax", "frames",
    "colour"})."""
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kind = sniff(path)
        if kind == "dicom":
            return _load_dicom_rgb(path)
        rgb, decision = _load_image_rgb(path, kind)
        return rgb, decision, dict.fromkeys(HEADER_KEYS)


def load_rgb(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """The first frame of ``path`` as uint8 RGB (H, W, 3) and its header (the
    :data:`~radtune.pixels.decode.HEADER_KEYS` values; all None for JPG/PNG). Raises
    InputRejected ("<file name>: <reason>") for unsupported or corrupt files."""
    rgb, _, header = load_rgb_decision(path)
    return rgb, header


__all__ = ["COLOUR_PHOTOMETRICS", "load_rgb", "load_rgb_decision"]
