"""Every transfer syntax a radiology archive sends, decoded and checked against the source
pixels (lossless syntaxes must give them back exactly) and against dcmtk, an independent
decoder, when it is installed (`apt-get install dcmtk`). Files are encoded here: JPEG
Lossless and JPEG baseline/extended by GDCM, JPEG-LS by CharLS (pyjpegls), RLE and JPEG
2000 by pylibjpeg; headerless (ACR-NEMA style) files by pydicom without file meta."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filewriter import dcmwrite
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from radtune import pixels
from radtune.errors import InputRejected
from radtune.render import render_file
from radtune.synth.transcode import GDCM_SYNTAX, gdcm_transcode

DCMTK = shutil.which("dcmdjpeg") is not None
#: encoded by pydicom; GDCM_SYNTAX by GDCM. 12-bit JPEG Extended: pydicom's bundled
#: JPEG-lossy.dcm and JPGExtended.dcm (GDCM's encoder does not write Process 4)
PYDICOM_SYNTAX = {
    "jpeg-ls": JPEGLSLossless,
    "jpeg-ls-near": JPEGLSNearLossless,
    "rle": RLELossless,
    "j2k": JPEG2000Lossless,
}
LOSSY = {"jpeg-baseline": 2, "jpeg-ls-near": 1}  # max error vs the source pixels


def phantom(bits: int, photometric: str = "MONOCHROME2") -> Dataset:
    """A smooth radiograph-like image with edges and noise (what lossy codecs must keep)."""
    rng = np.random.default_rng(bits)
    y, x = np.mgrid[0:300, 0:240]
    top = 2**bits - 1
    base = 0.15 + 0.6 * np.exp(-((x - 120) ** 2 + (y - 150) ** 2) / 2 / 60.0**2) + 0.2 * ((x // 40 + y // 50) % 2)
    arr = np.clip(base * top + rng.normal(0, top / 400, base.shape), 0, top).astype(np.uint16 if bits > 8 else np.uint8)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Modality, ds.PatientID = "DX", "PHANTOM"
    ds.set_pixel_data(arr, photometric, bits)
    ds.WindowCenter, ds.WindowWidth = top // 2, top
    return ds


def encoded(tmp_path: Path, syntax: str, photometric: str = "MONOCHROME2") -> tuple[Path, Path, np.ndarray]:
    """(uncompressed file, the same image in ``syntax``, the source pixels)."""
    bits = 8 if syntax == "jpeg-baseline" else 12
    ds = phantom(bits, photometric)
    src = tmp_path / "native.dcm"
    ds.save_as(src, enforce_file_format=True)
    dst = tmp_path / f"{syntax}.dcm"
    if syntax in GDCM_SYNTAX:
        gdcm_transcode(src, dst, syntax)
    else:
        ds.compress(PYDICOM_SYNTAX[syntax], **({"jls_error": 1} if syntax == "jpeg-ls-near" else {}))
        ds.save_as(dst, enforce_file_format=True)
    return src, dst, phantom(bits, photometric).pixel_array


def dcmtk_decoded(path: Path, tmp_path: Path) -> np.ndarray:
    """The pixels dcmtk decodes (dcmdjpeg / dcmdjpls / dcmdrle to an uncompressed file)."""
    ts = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    tool = "dcmdjpls" if "JPEG-LS" in ts.name else "dcmdrle" if ts == RLELossless else "dcmdjpeg"
    out = tmp_path / f"dcmtk-{path.name}"
    subprocess.run([tool, str(path), str(out)], check=True, capture_output=True)
    return pydicom.dcmread(out).pixel_array


def headerless(src: Path, dst: Path, implicit: bool = False, little: bool = True) -> Path:
    """``src`` rewritten the ACR-NEMA way: no preamble, no 'DICM', no file meta."""
    ds = pydicom.dcmread(src)
    if not little:  # pydicom writes the pixel bytes as they are: swap them for big endian
        ds.PixelData = ds.pixel_array.astype(">u2").tobytes()
    ds.file_meta, ds.preamble = FileMetaDataset(), None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dcmwrite(dst, ds, implicit_vr=implicit, little_endian=little, force_encoding=True)
    assert dst.read_bytes()[128:132] != b"DICM"
    return dst


SYNTAXES = [*GDCM_SYNTAX, *PYDICOM_SYNTAX]


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_decodes_like_the_source(tmp_path, syntax):
    src, dst, truth = encoded(tmp_path, syntax)
    stored = pixels.load(dst).stored
    assert stored.shape == truth.shape
    err = int(np.abs(stored.astype(np.int64) - truth).max())
    assert err <= LOSSY.get(syntax, 0), syntax
    if syntax not in LOSSY:  # lossless: the rendered image is the uncompressed file's, byte for byte
        assert np.array_equal(render_file(dst).image, render_file(src).image)
    assert (
        pydicom.dcmread(dst, stop_before_pixels=True).file_meta.TransferSyntaxUID.name
        in (render_file(dst).decision["transfer_syntax"])
    )


@pytest.mark.skipif(not DCMTK, reason="dcmtk (dcmdjpeg, dcmdjpls, dcmdrle) is not installed")
@pytest.mark.parametrize("syntax", [s for s in SYNTAXES if s != "j2k"])  # dcmtk has no JPEG 2000 decoder
def test_matches_dcmtk(tmp_path, syntax):
    _, dst, _ = encoded(tmp_path, syntax, "MONOCHROME1")
    assert np.array_equal(pixels.load(dst).stored, dcmtk_decoded(dst, tmp_path))


@pytest.mark.skipif(not DCMTK, reason="dcmtk (dcmdjpeg) is not installed")
@pytest.mark.parametrize("name", ["JPEG-lossy.dcm", "JPGExtended.dcm"])
def test_twelve_bit_jpeg_extended_beyond_pydicom_matches_dcmtk(tmp_path, name):
    """pydicom's plugins refuse 12-bit JPEG Extended; radtune decodes it with GDCM itself."""
    path = Path(get_testdata_file(name, download=False))
    assert np.array_equal(pixels.load(path).stored, dcmtk_decoded(path, tmp_path))


@pytest.mark.parametrize(
    ("syntax", "implicit", "little"),
    [(ImplicitVRLittleEndian, True, True), (ExplicitVRLittleEndian, False, True), (ExplicitVRBigEndian, False, False)],
)
def test_headerless_acr_nema_file_is_read(tmp_path, syntax, implicit, little):
    """No preamble, no file meta: read with force=True, the transfer syntax inferred from
    the dataset's encoding; the image equals the Part 10 file's."""
    src, _, _ = encoded(tmp_path, "rle")  # any: we only want the native file
    part10 = render_file(src)
    bare = headerless(src, tmp_path / "acr-nema.dcm", implicit, little)
    r = render_file(bare)
    assert np.array_equal(r.image, part10.image)
    assert r.decision["transfer_syntax"] == f"{syntax.name} (inferred: the file names none)"


def test_headerless_encapsulated_file_infers_its_codec(tmp_path):
    _, dst, truth = encoded(tmp_path, "jpeg-ls")
    src = pixels.load(headerless(dst, tmp_path / "bare-jpeg-ls.dcm"))
    assert np.array_equal(src.stored, truth)
    assert src.decision["transfer_syntax"].startswith("JPEG-LS Lossless")


@pytest.mark.parametrize("content", [b"", b"hello, not an image", bytes(range(256)) * 8])
def test_non_dicom_is_still_refused(tmp_path, content):
    bad = tmp_path / "junk.dcm"
    bad.write_bytes(content)
    with pytest.raises(InputRejected, match="not a DICOM file"):
        render_file(bad)


def test_a_syntax_without_decoder_is_named(tmp_path):
    ds = phantom(12)
    ds.PixelData = encapsulate([ds.PixelData])
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no decoder for a still image
    path = tmp_path / "mpeg.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(InputRejected, match=r"\(0002,0010\)") as e:
        render_file(path)
    assert "\n" not in str(e.value)
