"""Serialise synthetic radiographs as DICOM Part 10 bytes, deterministically.

Everything that pydicom would otherwise fill from its version or from randomness (the
implementation UID and version name, instance UIDs on compression) is fixed here, and the
encoders are named explicitly, so the same inputs give the same bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    ComputedRadiographyImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    OphthalmicPhotography8BitImageStorage,
    RLELossless,
    generate_uid,
)

UID_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's root for generated UIDs
IMPLEMENTATION_UID = generate_uid(UID_ROOT, entropy_srcs=["radtune.synth implementation"])
IMPLEMENTATION_VERSION = "RADTUNE_SYNTH_1"
SOP_CLASS = {
    "DX": DigitalXRayImageStorageForPresentation,
    "CR": ComputedRadiographyImageStorage,
    "OP": OphthalmicPhotography8BitImageStorage,
}
TRANSFER_SYNTAX = {"explicit": ExplicitVRLittleEndian, "rle": RLELossless, "j2k": JPEG2000Lossless}
ENCODER = {"rle": "pylibjpeg", "j2k": "pylibjpeg"}  # fixed plugins: same bytes on every machine


def uid(*parts: object) -> str:
    """A deterministic UID from the given parts (hashed under UID_ROOT)."""
    return generate_uid(UID_ROOT, entropy_srcs=["radtune.synth.pedirad", *map(str, parts)])


@dataclass(frozen=True)
class VoiLut:
    """A VOI LUT: first mapped value, bits per entry, and the entries."""

    first: int
    bits: int
    data: tuple[int, ...]
    explanation: str


def ds_str(x: float) -> str:
    """A Decimal String with at most 4 decimals and no trailing zeros."""
    s = f"{x:.4f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def base_dataset(header: dict[str, object], modality: str, sop_uid: str) -> Dataset:
    """File meta + the given header keywords (values already DICOM-formatted)."""
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP_CLASS[modality]
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = SOP_CLASS[modality]
    ds.SOPInstanceUID = sop_uid
    ds.Modality = modality
    for key in sorted(header):
        setattr(ds, key, header[key])
    return ds


def set_pixels(ds: Dataset, stored: np.ndarray, photometric: str) -> None:
    """Image Pixel module for 12-bit unsigned data in 16-bit words."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = (int(v) for v in stored.shape)
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(stored, dtype="<u2").tobytes()


def set_window(ds: Dataset, centers: list[float], widths: list[float], explanations: list[str]) -> None:
    ds.WindowCenter = [ds_str(c) for c in centers] if len(centers) > 1 else ds_str(centers[0])
    ds.WindowWidth = [ds_str(w) for w in widths] if len(widths) > 1 else ds_str(widths[0])
    ds.WindowCenterWidthExplanation = explanations if len(explanations) > 1 else explanations[0]


def set_voi_lut(ds: Dataset, lut: VoiLut) -> None:
    item = Dataset()
    item.add_new(0x00283002, "US", [len(lut.data) % 65536, lut.first, lut.bits])  # LUT Descriptor
    item.LUTExplanation = lut.explanation
    item.add_new(0x00283006, "US", list(lut.data))  # LUT Data (<= 32767 entries with VR US)
    ds.VOILUTSequence = Sequence([item])


def encode(ds: Dataset, syntax: str) -> bytes:
    """Compress (``explicit`` | ``rle`` | ``j2k``) and serialise as a Part 10 file."""
    if syntax != "explicit":
        ds.compress(TRANSFER_SYNTAX[syntax], encoding_plugin=ENCODER[syntax], generate_instance_uid=False)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def truncated(data: bytes, keep: float = 0.55) -> bytes:
    """The first part of a Part 10 file: header intact, Pixel Data cut short."""
    return data[: int(len(data) * keep) // 2 * 2]


def without_pixels(ds: Dataset) -> Dataset:
    """The dataset without (7FE0,0010) Pixel Data (header only)."""
    if "PixelData" in ds:
        del ds.PixelData
    return ds


__all__ = [
    "VoiLut",
    "base_dataset",
    "ds_str",
    "encode",
    "set_pixels",
    "set_voi_lut",
    "set_window",
    "truncated",
    "uid",
    "without_pixels",
]
