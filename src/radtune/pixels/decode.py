"""Decode an input file to a 2-D array of stored values (:class:`Source`): the first frame
of a DICOM file through pydicom, JPG/PNG through OpenCV; colour becomes BT.601 luma. The
file type comes from the first bytes (:func:`sniff`), not the suffix.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import generate_fragments
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    JPEG2000,
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

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


#: the refusal of a file that is neither Part 10 DICOM nor a headerless dataset holding an image
NOT_DICOM = "not a DICOM file: the File Meta Information header ('DICM' at byte 128) is missing"


def read_dicom(path: Path) -> Dataset:
    """Read a DICOM file's dataset, rejecting files without pixel data. A file without the
    128-byte preamble and File Meta Information (old ACR-NEMA style exports) is read when
    pydicom can read it with ``force=True`` and it holds an image; a missing (0002,0010)
    Transfer Syntax UID is inferred (:func:`infer_transfer_syntax`)."""
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        ds = _read_headerless(path)
    except OSError as e:
        raise reject(path, f"cannot read file: {e.strerror or e}") from None
    except (ValueError, TypeError, KeyError, EOFError) as e:
        raise reject(path, f"DICOM header cannot be parsed ({type(e).__name__}: {e})") from None
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise reject(path, "(7FE0,0010) Pixel Data is missing")
    if not ds.file_meta.get("TransferSyntaxUID"):
        ds.file_meta.TransferSyntaxUID = infer_transfer_syntax(ds, path)
        ds.transfer_syntax_inferred = True
    return ds


def _read_headerless(path: Path) -> Dataset:
    """A file without preamble / file meta, when pydicom reads an image out of it."""
    try:
        ds = pydicom.dcmread(path, force=True)
        if "PixelData" not in ds or "Rows" not in ds:
            raise ValueError("no image")
    except Exception:  # noqa: BLE001 - whatever force=True trips on, the file is not DICOM to us
        raise reject(path, NOT_DICOM) from None
    if not hasattr(ds, "file_meta"):
        ds.file_meta = FileMetaDataset()
    return ds


#: JPEG start-of-frame markers -> the transfer syntax of that process (other SOFs:
#: progressive, hierarchical, arithmetic coding -- no transfer syntax we decode)
_SOF_SYNTAX = {0xC0: JPEGBaseline8Bit, 0xC1: JPEGExtended12Bit, 0xC3: JPEGLossless, 0xF7: JPEGLSLossless}
_OTHER_SOF = set(range(0xC2, 0xD0)) - {0xC3, 0xC4, 0xC8, 0xCC}


def _jpeg_syntax(stream: bytes) -> UID | None:
    """The transfer syntax of a JPEG / JPEG-LS codestream from its start-of-frame marker."""
    i = 2  # after SOI
    while i + 4 <= len(stream) and stream[i] == 0xFF:
        marker = stream[i + 1]
        if marker in _SOF_SYNTAX:
            return _SOF_SYNTAX[marker]
        if marker in _OTHER_SOF:
            return None
        i += 2 + int.from_bytes(stream[i + 2 : i + 4], "big")
    return None


def infer_transfer_syntax(ds: Dataset, path: Path) -> UID:
    """The transfer syntax of a file that does not name one: native pixel data is encoded
    like the dataset was read (implicit/explicit VR, byte order); encapsulated pixel data
    by its first fragment's codestream (JPEG start-of-frame marker, JPEG 2000 or RLE header)."""
    if "PixelData" in ds and ds["PixelData"].is_undefined_length:
        frag = next(islice(generate_fragments(ds.PixelData), 1, None), b"")  # after the offset table
        found = None
        if frag[:4] == b"\xff\x4f\xff\x51" or frag[4:8] == b"jP  ":
            found = JPEG2000
        elif frag[:2] == b"\xff\xd8":
            found = _jpeg_syntax(frag)
        elif len(frag) >= 64 and 1 <= int.from_bytes(frag[:4], "little") <= 15:
            found = RLELossless
        if found is None:
            raise reject(path, "(0002,0010) Transfer Syntax UID is missing and the pixel encoding cannot be inferred")
        return found
    implicit, little = ds.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def transfer_syntax_name(ds: Dataset) -> str:
    """The transfer syntax's name (its UID if pydicom does not know it), marked when
    :func:`read_dicom` inferred it."""
    tsuid = ds.file_meta.TransferSyntaxUID
    name = getattr(tsuid, "name", str(tsuid))
    return f"{name} (inferred: the file names none)" if getattr(ds, "transfer_syntax_inferred", False) else name


#: the fastest installed decoder per transfer syntax, measured on 2K 12-bit radiographs on
#: one core (RLE: pylibjpeg 7 ms, pydicom 44; JPEG-LS: pyjpegls 65, gdcm 100; JPEG 2000
#: lossless: gdcm 234, pylibjpeg 343, pillow 380). These codecs are exactly specified (JPEG-LS
#: near-lossless too): the choice never changes a pixel. Other syntaxes: pydicom's order.
PREFERRED_DECODER = {
    RLELossless: "pylibjpeg",
    JPEGLSLossless: "pyjpegls",
    JPEGLSNearLossless: "pyjpegls",
    JPEG2000Lossless: "gdcm",
}


def decoding_plugin(tsuid: UID) -> str:
    """PREFERRED_DECODER's plugin for ``tsuid`` when it is installed, else "" (pydicom's order)."""
    plugin = PREFERRED_DECODER.get(tsuid, "")
    return plugin if plugin and plugin in pydicom.pixels.get_decoder(tsuid).available_plugins else ""


def gdcm_first_frame(path: Path) -> np.ndarray:
    """The first frame of a monochrome image decoded by GDCM itself. pydicom's GDCM plugin
    refuses some syntaxes GDCM decodes (12-bit JPEG Extended, Process 4); this reads them.
    Raises ValueError when GDCM is missing or cannot decode the file."""
    try:
        import gdcm
    except ImportError:
        raise ValueError("GDCM (python-gdcm) is not installed") from None
    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    if not reader.Read():
        raise ValueError("GDCM cannot read the file")
    image = reader.GetImage()
    fmt = image.GetPixelFormat()
    dtype = {(8, 0): np.uint8, (8, 1): np.int8, (16, 0): np.uint16, (16, 1): np.int16}.get(
        (fmt.GetBitsAllocated(), fmt.GetPixelRepresentation())
    )
    if dtype is None or fmt.GetSamplesPerPixel() != 1:
        raise ValueError("GDCM fallback decodes 8/16-bit monochrome images only")
    rows, cols = image.GetDimension(1), image.GetDimension(0)
    buffer = image.GetBuffer()
    if buffer is None:
        raise ValueError("GDCM cannot decode the pixel data")
    data = np.frombuffer(buffer.encode("utf-8", "surrogateescape"), dtype=dtype)
    if data.size < rows * cols:
        raise ValueError("GDCM returned fewer pixels than Rows x Columns")
    return data[: rows * cols].reshape(rows, cols).copy()


@contextmanager
def c_stderr_silenced(active: bool = True) -> Iterator[None]:
    """File descriptor 2 pointed at /dev/null while the C codecs run: libjpeg, OpenJPEG and
    GDCM print their complaints there, and a bad file must give one line, not ten (the
    decoder's failure still arrives as an exception)."""
    if not active:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def unused_bits_ignored(arr: np.ndarray, unused: int) -> np.ndarray:
    """``arr`` with the top ``unused`` bits of each value ignored (PS3.5 8.1.1; signed
    values sign-extended from Bits Stored), as pydicom's ``correct_unused_bits`` does, but
    its two shifts of every pixel and its copy happen only when some value has such bits
    set (a min/max look decides; a read-only view of the file's bytes is kept otherwise)."""
    if arr.dtype.kind not in "iu" or unused <= 0:
        return arr
    info = np.iinfo(arr.dtype)
    if arr.dtype.kind == "i":
        lo, hi = info.min >> unused, info.max >> unused
    else:
        lo, hi = 0, info.max >> unused
    if arr.size == 0 or (arr.min() >= lo and arr.max() <= hi):
        return arr
    arr = np.left_shift(arr, unused)
    return np.right_shift(arr, unused, out=arr)


def first_frame(ds: Dataset, path: Path, frames: int) -> np.ndarray:
    """The first frame's pixel array as pydicom decodes it (colour as RGB; the fastest
    installed decoder, GDCM itself where pydicom's plugins all refuse), pydicom's errors
    translated into tag-named rejections."""
    ts_name = transfer_syntax_name(ds)
    tsuid = ds.file_meta.TransferSyntaxUID
    try:
        plugin = decoding_plugin(tsuid)
        with c_stderr_silenced(tsuid.is_compressed):
            arr = pydicom.pixels.pixel_array(
                ds,
                index=0 if frames > 1 else None,
                decoding_plugin=plugin,
                correct_unused_bits=False,
                view_only=True,
            )
        unused = int(ds.BitsAllocated) - int(ds.BitsStored) if "PixelData" in ds and "BitsStored" in ds else 0
        return unused_bits_ignored(arr, unused)
    except NotImplementedError as e:  # a RuntimeError: first
        raise reject(
            path, f"(0002,0010) Transfer Syntax '{ts_name}' is not supported ({' '.join(str(e).split())})"
        ) from None
    except RuntimeError as e:
        msg = str(e).splitlines()[0]
        if "plugins" in msg and "Unable to decode" in msg and tsuid.is_compressed:
            try:
                with c_stderr_silenced():
                    return gdcm_first_frame(path)
            except ValueError:
                pass
        if "plugins" in msg and "Unable to decompress" in msg:
            raise reject(path, f"(0002,0010) Transfer Syntax '{ts_name}' has no installed decoder") from None
        detail = " ".join(str(e).split()[-12:])
        raise reject(path, f"(7FE0,0010) Pixel Data cannot be decoded as '{ts_name}' ({detail})") from None
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
