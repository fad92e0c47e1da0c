"""Decode DICOM / JPG / PNG pixels and map them to 8-bit display values.

The chain follows PS3.3 C.11: stored values -> Modality LUT (Rescale Slope/Intercept or
Modality LUT Sequence) -> VOI (VOI LUT Sequence, or Window Center/Width with VOI LUT
Function LINEAR / LINEAR_EXACT / SIGMOID) -> MONOCHROME1 inversion -> 0..255.

The VOI output range maps linearly onto 0..255:

* window (any function): the window's output range [y_min, y_max] (PS3.3 C.11.2.1.2) is
  0..255 directly, so this equals pydicom's ``apply_windowing`` output rescaled from its
  own y_min..y_max to 0..255;
* VOI LUT Sequence: the nominal LUT output range 0 .. 2**LUTDescriptor[2] - 1 (the range
  pydicom's ``apply_voi`` output dtype stands for) maps onto 0..255;
* auto / minmax / presets / user "C,W": a LINEAR_EXACT window (lo -> 0, hi -> 255).

Speed: stored values of 8- or 16-bit integer images are bit patterns, so the whole chain is
evaluated ONCE over all 256 / 65536 patterns and applied to the image with one ``np.take``
(the "LUT path"); float and 32-bit data go through the same functions element-wise.

Every failure raises :class:`radtune.errors.InputRejected` with one line naming the file
and the DICOM tag or field at fault.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from radtune.errors import ConfigError, InputRejected

#: CT presets (center, width) in Hounsfield units. ``subdural`` is 75/215 (not 80/200).
#: They only make sense for CT; for projection radiographs (DX/CR/MG) use ``file`` or
#: ``auto``: their modality values are detector units, not HU.
PRESETS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "bone": (500.0, 2000.0),
}
WINDOW_CHOICES = "file, auto, minmax, " + ", ".join(PRESETS) + " or 'C,W' numbers (W >= 1)"
VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
#: a histogram is built from every 2nd row/column above this many pixels (exact min/max kept)
HIST_SAMPLE_ABOVE = 1_000_000
#: an extreme histogram bin (min or max value) holding more than this fraction of pixels is
#: treated as constant border / collimation / saturation and ignored by ``auto``
BORDER_FRACTION = 0.02
LUMA_BT601 = (0.299, 0.587, 0.114)


# --------------------------------------------------------------------------- window spec
@dataclass(frozen=True)
class WindowSpec:
    """What the caller asked for: ``kind`` in file|auto|minmax|preset|user."""

    kind: str
    name: str = ""
    center: float = 0.0
    width: float = 0.0


def parse_window(window: str) -> WindowSpec:
    """Parse the ``window`` option; unknown values raise ConfigError naming the choices."""
    w = str(window).strip().lower()
    if w in ("file", "auto", "minmax"):
        return WindowSpec(w)
    if w in PRESETS:
        c, width = PRESETS[w]
        return WindowSpec("preset", w, c, width)
    parts = w.split(",")
    if len(parts) == 2:
        try:
            c, width = float(parts[0]), float(parts[1])
        except ValueError:
            pass
        else:
            if math.isfinite(c) and math.isfinite(width) and width >= 1:
                return WindowSpec("user", w, c, width)
    raise ConfigError(f"window: unknown value {window!r}; accepted: {WINDOW_CHOICES}")


# --------------------------------------------------------------------------- transforms
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


# --------------------------------------------------------------------------- histogram
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
    """Percentiles (nearest rank) of a value/count histogram; values need not be sorted."""
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


# --------------------------------------------------------------------------- sources
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
    "PatientID", "PatientSex", "PatientAge", "PatientBirthDate", "StudyDate",
    "Modality", "BodyPartExamined", "ViewPosition",
)


def reject(path: Path, msg: str) -> InputRejected:
    """One-line InputRejected naming the file."""
    line = " ".join(str(msg).split())
    return InputRejected(f"{Path(path).name}: {line}")


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


def load_image_file(path: Path, kind: str) -> Source:
    """Decode a JPG/PNG (8/16-bit, grey or colour -> grey luma)."""
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise reject(path, f"cannot read file: {e.strerror or e}") from None
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if img is None or img.size == 0:
        raise reject(path, f"{kind.upper()} image is empty or corrupt (cannot be decoded)")
    decision: dict[str, Any] = {"transfer_syntax": f"{kind.upper()} file", "frames": "1 of 1"}
    if img.ndim == 3:
        channels = img.shape[2]
        img = luma_like(img[..., 2::-1] if channels >= 3 else np.repeat(img[..., :1], 3, axis=2))
        decision["colour"] = f"{'BGRA' if channels == 4 else 'BGR'} -> luma (BT.601)" if channels >= 3 else "grey+alpha"
    bits = 8 * img.dtype.itemsize
    return Source(
        stored=img, bits_stored=bits, signed=False, photometric="MONOCHROME2",
        display_ready=bits == 8 or "colour" in decision, decision=decision,
    )


def tag_name(keyword: str) -> str:
    """'WindowWidth' -> '(0028,1051) Window Width'."""
    tag = pydicom.datadict.tag_for_keyword(keyword)
    if tag is None:
        return keyword
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {pydicom.datadict.dictionary_description(tag)}"


def _get(ds: Dataset, path: Path, keyword: str, default: Any = None, required: bool = False) -> Any:
    """A header value, translating pydicom's value errors into a tag-named rejection."""
    tag_s = tag_name(keyword)
    try:
        if keyword not in ds:
            if required:
                raise reject(path, f"{tag_s} is missing")
            return default
        value = ds[keyword].value
    except (ValueError, TypeError, OverflowError) as e:
        raise reject(path, f"{tag_s} has an invalid value ({e})") from None
    if value is None or value == "":
        if required:
            raise reject(path, f"{tag_s} is empty")
        return default
    return value


def _get_int(ds: Dataset, path: Path, keyword: str, default: int | None = None, required: bool = False) -> int:
    """An integer header value (IS/US), rejecting unparseable values by tag."""
    v = _get(ds, path, keyword, default=default, required=required)
    try:
        return int(v)
    except (ValueError, TypeError) as e:
        raise reject(path, f"{tag_name(keyword)} has an invalid value ({e})") from None


def _first_number(ds: Dataset, path: Path, keyword: str) -> tuple[float, int] | None:
    """First value of a multi-valued numeric element and the number of values."""
    v = _get(ds, path, keyword)
    if v is None:
        return None
    vals = list(v) if isinstance(v, (list, tuple, pydicom.multival.MultiValue)) else [v]
    try:
        return float(vals[0]), len(vals)
    except (ValueError, TypeError, IndexError) as e:
        raise reject(path, f"{tag_name(keyword)} has an invalid value ({e})") from None


def read_lut(ds: Dataset, item: Dataset, path: Path, seq: str, signed: bool) -> Lut:
    """Parse one LUT item (Modality or VOI LUT Sequence), validating its descriptor."""
    desc = _get(item, path, "LUTDescriptor", required=True)
    raw = _get(item, path, "LUTData", required=True)
    try:
        n, first, bits = (int(x) for x in desc)
    except (ValueError, TypeError) as e:
        raise reject(path, f"{seq} (0028,3002) LUT Descriptor must have 3 numbers ({e})") from None
    n = n or 65536
    if signed and first >= 2**15:
        first -= 2**16
    if not (8 <= bits <= 16):
        raise reject(path, f"{seq} (0028,3002) LUT Descriptor bits per entry {bits} is not 8..16")
    if isinstance(raw, (bytes, bytearray)):
        little = ds.original_encoding[1] if ds.original_encoding[1] is not None else True
        data = np.frombuffer(raw, dtype="<u2" if little else ">u2")
        if len(data) == n + 1 and data[-1] == 0:  # OW padded to even length
            data = data[:n]
    else:
        data = np.asarray(list(raw) if not isinstance(raw, int) else [raw], dtype=np.int64)
    if len(data) != n:
        raise reject(path, f"{seq} (0028,3002) LUT Descriptor says {n} entries but (0028,3006) LUT Data has {len(data)}")
    if data.size and (data.min() < 0 or data.max() > 2**bits - 1):
        raise reject(path, f"{seq} (0028,3006) LUT Data exceeds the {bits} bits of (0028,3002) LUT Descriptor")
    return Lut(first=first, data=data.astype(np.float64), bits=bits)


def load_dicom(path: Path) -> Source:
    """Read a DICOM file and decode its first frame (colour -> luma)."""
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        raise reject(path, "not a DICOM file: the File Meta Information header ('DICM' at byte 128) is missing") from None
    except OSError as e:
        raise reject(path, f"cannot read file: {e.strerror or e}") from None
    except (ValueError, TypeError, KeyError, EOFError) as e:
        raise reject(path, f"DICOM header cannot be parsed ({type(e).__name__}: {e})") from None
    tsuid = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if not tsuid:
        raise reject(path, "(0002,0010) Transfer Syntax UID is missing from the file meta")
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise reject(path, "(7FE0,0010) Pixel Data is missing")
    photometric = str(_get(ds, path, "PhotometricInterpretation", required=True)).strip().upper()
    for kw in ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel"):
        _get_int(ds, path, kw, required=True)
    integer_data = "PixelData" in ds
    bits_alloc = _get_int(ds, path, "BitsAllocated")
    bits_stored = _get_int(ds, path, "BitsStored", default=None if integer_data else bits_alloc, required=integer_data)
    signed = _get_int(ds, path, "PixelRepresentation", default=None if integer_data else 0, required=integer_data) == 1
    frames = _get_int(ds, path, "NumberOfFrames", default=1) or 1
    ts_name = getattr(tsuid, "name", str(tsuid))
    try:
        arr = pydicom.pixels.pixel_array(ds, index=0 if frames > 1 else None)
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
    header = {k: (str(ds[k].value) if k in ds and ds[k].value not in (None, "") else None) for k in HEADER_KEYS}
    return Source(
        stored=arr, bits_stored=bits_stored, signed=signed and arr.dtype.kind == "i",
        photometric=photometric, display_ready=display_ready, decision=decision, ds=ds, header=header,
    )


def load(path: Path) -> Source:
    """Decode any supported input file (pydicom warnings silenced)."""
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kind = sniff(path)
        return load_dicom(path) if kind == "dicom" else load_image_file(path, kind)


# --------------------------------------------------------------------------- decisions
def _fmt(x: float) -> str:
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
    src: Source, spec: WindowSpec, path: Path, modality: Modality,
    hist: tuple[np.ndarray, np.ndarray], auto_percentiles: tuple[float, float],
) -> tuple[Voi, str, dict[str, Any]]:
    """Decide the VOI for ``spec``; returns (voi, description, extra decision fields)."""
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
    mvals = apply_modality(hist[0], modality)
    counts = hist[1]
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
    """Result of :func:`display`: the 8-bit image, the decision and the stored histogram."""

    image: np.ndarray
    decision: dict[str, Any]
    hist: tuple[np.ndarray, np.ndarray]
    detector_range: tuple[float, float]


def detector_range(src: Source, hist: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """The range of storable values (float data: the data range)."""
    if src.stored.dtype.kind == "f":
        return float(hist[0].min()), float(hist[0].max())
    b = src.bits_stored
    return (-(2.0 ** (b - 1)), 2.0 ** (b - 1) - 1) if src.signed else (0.0, 2.0**b - 1)


def apply_chain(stored: np.ndarray, chain: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, str]:
    """Apply the chain: one table lookup for 8/16-bit integers, element-wise otherwise."""
    domain = lut_domain(stored.dtype)
    if domain is None:
        return chain(stored), "elementwise"
    table = chain(domain)
    return np.take(table, unsigned_view(stored)), f"lut[{len(domain)}]"


def display(src: Source, spec: WindowSpec, path: Path, auto_percentiles: tuple[float, float] = (1.0, 99.0)) -> Display:
    """Stored values -> uint8 display image plus the decision taken."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        modality, modality_desc = modality_of(src, path)
        hist = histogram(src.stored)
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
    return Display(image=image, decision=decision, hist=hist, detector_range=detector_range(src, hist))
