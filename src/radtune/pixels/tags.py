"""DICOM header access that fails with one line naming the file and the tag at fault:
:func:`reject`, :func:`tag_name`, the ``_get`` / ``_get_int`` / ``_first_number`` accessors
and :func:`read_lut` (one Modality or VOI LUT Sequence item).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from radtune.errors import InputRejected
from radtune.pixels.lut import Lut


def reject(path: Path, msg: str) -> InputRejected:
    """One-line InputRejected naming the file."""
    line = " ".join(str(msg).split())
    return InputRejected(f"{Path(path).name}: {line}")


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
        raise reject(
            path, f"{seq} (0028,3002) LUT Descriptor says {n} entries but (0028,3006) LUT Data has {len(data)}"
        )
    if data.size and (data.min() < 0 or data.max() > 2**bits - 1):
        raise reject(path, f"{seq} (0028,3006) LUT Data exceeds the {bits} bits of (0028,3002) LUT Descriptor")
    return Lut(first=first, data=data.astype(np.float64), bits=bits)
