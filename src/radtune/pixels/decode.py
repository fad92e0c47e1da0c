"""Decode an input file to a 2-D array of stored values (:class:`Source`): the first frame
of a DICOM file through pydicom, JPG/PNG through OpenCV; colour becomes BT.601 luma. The
file type comes from the first bytes (:func:`sniff`), not the suffix.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from radtune.pixels.tags import _get, _get_int, reject

LUMA_BT601 = (0.299, 0.587, 0.114)


@dataclass
class Source:
    """A decoded 2-D image and what we know about it."""

    stored: np.ndarray
    bits_stored: int
    signed: bool
    photometric: str
    display_ready: bool  # colour / 8-bit image files: values are already display values
    decision: dict[str, Any] = field(default_factory=dict)
    ds: Dataset | None = None
    header: dict[str, Any] = field(default_factory=dict)


HEADER_KEYS = (
    "PatientID",
    "PatientSex",
    "PatientAge",
    "PatientBirthDate",
    "StudyDate",
    "Modality",
    "BodyPartExamined",
    "ViewPosition",
)


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of an (H, W, 3) RGB array, as float64."""
    r, g, b = LUMA_BT601
    x = rgb.astype(np.float64)
    return r * x[..., 0] + g * x[..., 1] + b * x[..., 2]


def luma_like(rgb: np.ndarray) -> np.ndarray:
    """Luma rounded back to the input integer dtype (float inputs stay float)."""
    y = luma(rgb)
    if rgb.dtype.kind in "iu":
        return np.floor(y + 0.5).astype(rgb.dtype.newbyteorder("="))
    return y


def sniff(path: Path) -> str:
    """'jpeg' | 'png' | 'dicom' from the first bytes (not the suffix)."""
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError as e:
        raise reject(path, f"cannot read file: {e.strerror or e}") from None
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if Path(path).suffix.lower() in (".jpg", ".jpeg", ".png"):
        raise reject(path, f"not a valid {Path(path).suffix.lstrip('.').upper()} image (bad signature)")
    return "dicom"


def decode_image_file(path: Path, kind: str) -> np.ndarray:
    """A JPG/PNG file's pixels as OpenCV decodes them (unchanged depth; colour is BGR/BGRA)."""
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise reject(path, f"cannot read file: {e.strerror or e}") from None
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if img is None or img.size == 0:
        raise reject(path, f"{kind.upper()} image is empty or corrupt (cannot be decoded)")
    return img


def load_image_file(path: Path, kind: str) -> Source:
    """Decode a JPG/PNG (8/16-bit, grey or colour -> grey luma)."""
    img = decode_image_file(path, kind)
    decision: dict[str, Any] = {"transfer_syntax": f"{kind.upper()} file", "frames": "1 of 1"}
    if img.ndim == 3:
        channels = img.shape[2]
        img = luma_like(img[..., 2::-1] if channels >= 3 else np.repeat(img[..., :1], 3, axis=2))
        decision["colour"] = f"{'BGRA' if channels == 4 else 'BGR'} -> luma (BT.601)" if channels >= 3 else "grey+alpha"
    bits = 8 * img.dtype.itemsize
    return Source(
        stored=img,
        bits_stored=bits,
        signed=False,
        photometric="MONOCHROME2",
        display_ready=bits == 8 or "colour" in decision,
        decision=decision,
    )


def read_dicom(path: Path) -> Dataset:
    """Read a DICOM file's dataset, rejecting files without a transfer syntax or pixel data."""
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        msg = "not a DICOM file: the File Meta Information header ('DICM' at byte 128) is missing"
        raise reject(path, msg) from None
    except OSError as e:
        raise reject(path, f"cannot read file: {e.strerror or e}") from None
    except (ValueError, TypeError, KeyError, EOFError) as e:
        raise reject(path, f"DICOM header cannot be parsed ({type(e).__name__}: {e})") from None
    tsuid = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if not tsuid:
        raise reject(path, "(0002,0010) Transfer Syntax UID is missing from the file meta")
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise reject(path, "(7FE0,0010) Pixel Data is missing")
    return ds


def transfer_syntax_name(ds: Dataset) -> str:
    """The transfer syntax's name (its UID if pydicom does not know it)."""
    tsuid = ds.file_meta.TransferSyntaxUID
    return getattr(tsuid, "name", str(tsuid))


def first_frame(ds: Dataset, path: Path, frames: int) -> np.ndarray:
    """The first frame's pixel array as pydicom decodes it (colour as RGB), pydicom's
    errors translated into tag-named rejections."""
    ts_name = transfer_syntax_name(ds)
    try:
        return pydicom.pixels.pixel_array(ds, index=0 if frames > 1 else None)
    except RuntimeError as e:
        msg = str(e).splitlines()[0]
        if "plugins" in msg and "Unable to decompress" in msg:
            raise reject(path, f"(0002,0010) Transfer Syntax '{ts_name}' has no installed decoder") from None
        detail = " ".join(str(e).split()[-12:])
        raise reject(path, f"(7FE0,0010) Pixel Data cannot be decoded as '{ts_name}' ({detail})") from None
    except NotImplementedError as e:
        raise reject(path, f"(0002,0010) Transfer Syntax '{ts_name}' is not supported ({e})") from None
    except ValueError as e:
        msg = " ".join(str(e).split())
        if "less than expected" in msg or "truncat" in msg.lower():
            raise reject(path, f"(7FE0,0010) Pixel Data is truncated ({msg.split(' - ')[0]})") from None
        raise reject(path, f"(7FE0,0010) Pixel Data cannot be decoded ({msg[:160]})") from None
    except (AttributeError, KeyError, TypeError, IndexError) as e:
        raise reject(path, f"pixel module is incomplete ({' '.join(str(e).split())[:160]})") from None


def header_of(ds: Dataset) -> dict[str, Any]:
    """The HEADER_KEYS values of ``ds`` as strings (None when absent or empty)."""
    return {k: (str(ds[k].value) if k in ds and ds[k].value not in (None, "") else None) for k in HEADER_KEYS}


def load_dicom(path: Path) -> Source:
    """Read a DICOM file and decode its first frame (colour -> luma)."""
    ds = read_dicom(path)
    photometric = str(_get(ds, path, "PhotometricInterpretation", required=True)).strip().upper()
    for kw in ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel"):
        _get_int(ds, path, kw, required=True)
    integer_data = "PixelData" in ds
    bits_alloc = _get_int(ds, path, "BitsAllocated")
    bits_stored = _get_int(ds, path, "BitsStored", default=None if integer_data else bits_alloc, required=integer_data)
    signed = _get_int(ds, path, "PixelRepresentation", default=None if integer_data else 0, required=integer_data) == 1
    frames = _get_int(ds, path, "NumberOfFrames", default=1) or 1
    ts_name = transfer_syntax_name(ds)
    arr = first_frame(ds, path, frames)
    decision: dict[str, Any] = {"transfer_syntax": ts_name, "frames": f"1 of {frames}"}
    if frames > 1:
        decision["frames"] = f"first of {frames}"
    display_ready = False
    if photometric == "PALETTE COLOR":
        try:
            arr = pydicom.pixels.apply_color_lut(arr, ds)
        except (ValueError, AttributeError, KeyError, IndexError) as e:
            raise reject(path, f"(0028,1201) Palette Color LUT cannot be applied ({e})") from None
        bits_stored = 8 * arr.dtype.itemsize
    if arr.ndim == 3:
        arr = luma_like(arr)
        via = "" if photometric in ("RGB", "PALETTE COLOR") else " -> RGB"
        decision["colour"] = f"{photometric}{via} -> luma (BT.601)"
        display_ready = True
    elif photometric not in ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR"):
        raise reject(path, f"(0028,0004) Photometric Interpretation '{photometric}' is not supported")
    arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    if arr.dtype.kind == "f":
        bits_stored = 8 * arr.dtype.itemsize
    header = header_of(ds)
    return Source(
        stored=arr,
        bits_stored=bits_stored,
        signed=signed and arr.dtype.kind == "i",
        photometric=photometric,
        display_ready=display_ready,
        decision=decision,
        ds=ds,
        header=header,
    )


def load(path: Path) -> Source:
    """Decode any supported input file (pydicom warnings silenced)."""
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kind = sniff(path)
        return load_dicom(path) if kind == "dicom" else load_image_file(path, kind)
