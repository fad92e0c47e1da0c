"""Pixel pipeline vs pydicom's own modality/VOI functions (an independent computation)."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pydicom.data
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut, apply_windowing
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from radtune import imaging, pixels
from radtune.errors import ConfigError, InputRejected
from radtune.pixels import lut
from radtune.render import render_file


# ----------------------------------------------------------------------------- reference
def _quiet_read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def _first_frame(ds: Dataset) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr = ds.pixel_array
    return arr[0] if int(ds.get("NumberOfFrames", 1) or 1) > 1 else arr


def _window_range(ds: Dataset) -> tuple[float, float]:
    """The output range pydicom's apply_windowing maps onto (its documented y_min..y_max)."""
    if ds.get("ModalityLUTSequence"):
        return 0.0, 2.0 ** ds.ModalityLUTSequence[0].LUTDescriptor[2] - 1
    b = ds.BitsStored
    lo, hi = (0.0, 2.0**b - 1) if ds.PixelRepresentation == 0 else (-(2.0 ** (b - 1)), 2.0 ** (b - 1) - 1)
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        lo, hi = lo * ds.RescaleSlope + ds.RescaleIntercept, hi * ds.RescaleSlope + ds.RescaleIntercept
    return lo, hi


def reference_8bit(ds: Dataset, minmax: bool = False) -> np.ndarray:
    """pydicom apply_modality_lut -> apply_voi_lut, linearly to 0..255, MONOCHROME1 inverted.
    ``minmax``: no VOI, modality values min..max -> 0..255."""
    m = apply_modality_lut(_first_frame(ds), ds).astype(np.float64)
    if minmax:
        lo, hi = m.min(), m.max()
        v = m
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = apply_voi_lut(m, ds).astype(np.float64)
        if ds.get("VOILUTSequence"):
            lo, hi = 0.0, 2.0 ** ds.VOILUTSequence[0].LUTDescriptor[2] - 1
        else:
            lo, hi = _window_range(ds)
    out = (v - lo) / max(hi - lo, 1e-12) * 255.0
    out = np.clip(np.rint(out), 0, 255)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        out = 255 - out
    return out


def _max_diff(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


# ----------------------------------------------------------------------------- bundled
def _bundled_monochrome() -> list[str]:
    names = []
    for f in sorted((Path(pydicom.data.__file__).parent / "test_files").rglob("*.dcm")):
        try:
            ds = _quiet_read(f)
        except pydicom.errors.InvalidDicomError:
            continue
        if str(ds.get("PhotometricInterpretation", "")).startswith("MONOCHROME") and "PixelData" in ds:
            names.append(Path(f).name)
    return names


BUNDLED = _bundled_monochrome()
#: bundled files pydicom's plugins refuse and radtune decodes (GDCM itself: 12-bit JPEG Extended)
BEYOND_PYDICOM = {"JPEG-lossy.dcm", "JPGExtended.dcm"}


def _decodable(name: str) -> Dataset | None:
    ds = _quiet_read(get_testdata_file(name, download=False))
    try:
        _first_frame(ds)
    except (RuntimeError, ValueError, AttributeError, NotImplementedError):
        return None
    return ds


def test_bundled_list_is_not_empty():
    assert {"CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "JPEG2000.dcm"} <= set(BUNDLED)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_matches_pydicom(name):
    ds = _decodable(name)
    path = Path(get_testdata_file(name, download=False))
    if name in BEYOND_PYDICOM:  # no pydicom reference: decoded all the same (dcmtk compares the pixels,
        header = _quiet_read(path)  # tests/test_transfer_syntaxes.py)
        r = render_file(path, size=0)
        assert r.image.shape == (header.Rows, header.Columns) and r.image.std() > 0
        assert r.decision["transfer_syntax"] == header.file_meta.TransferSyntaxUID.name
        return
    if ds is None:
        with pytest.raises(InputRejected) as e:
            render_file(path, size=0)
        msg = str(e.value)
        assert msg.startswith(f"{name}: ") and "\n" not in msg
        return
    has_voi = bool(ds.get("VOILUTSequence")) or ("WindowCenter" in ds and "WindowWidth" in ds)
    r = render_file(path, window="file" if has_voi else "minmax", size=0)
    ref = reference_8bit(ds, minmax=not has_voi)
    assert r.image.dtype == np.uint8 and r.image.shape == ref.shape
    assert r.padding == {"top": 0, "bottom": 0, "left": 0, "right": 0} and r.scale == 1.0
    assert _max_diff(r.image, ref) <= 1, r.decision
    assert r.decision["inverted"] is (ds.PhotometricInterpretation == "MONOCHROME1")


@pytest.mark.parametrize(
    "name",
    [
        "MR_truncated.dcm",
        "rtplan.dcm",
        "no_meta.dcm",
        "meta_missing_tsyntax.dcm",
        "badVR.dcm",
        "JPEG2000-embedded-sequence-delimiter.dcm",
    ],
)
def test_undecodable_bundled_rejected_one_line(name, recwarn):
    path = Path(get_testdata_file(name, download=False))
    with pytest.raises(InputRejected) as e:
        render_file(path)
    msg = str(e.value)
    assert msg.startswith(f"{name}: ") and "\n" not in msg
    assert "(" in msg  # names a tag or field
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_specific_reject_messages():
    def msg(name):
        with pytest.raises(InputRejected) as e:
            render_file(Path(get_testdata_file(name, download=False)))
        return str(e.value)

    assert "(7FE0,0010) Pixel Data is missing" in msg("rtplan.dcm")
    assert "(7FE0,0010) Pixel Data is truncated" in msg("MR_truncated.dcm")
    assert "DICM" in msg("no_meta.dcm")


def test_multiframe_uses_first_frame():
    name = "rtdose.dcm"
    ds = _quiet_read(get_testdata_file(name, download=False))
    r = render_file(Path(get_testdata_file(name, download=False)), window="minmax", size=0)
    assert r.decision["frames"] == "first of 15"
    assert _max_diff(r.image, reference_8bit(ds, minmax=True)) <= 1


def test_colour_dicom_to_luma():
    path = Path(get_testdata_file("examples_rgb_color.dcm", download=False))
    ds = _quiet_read(path)
    rgb = ds.pixel_array.astype(np.float64)
    luma = np.rint(0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2])
    r = render_file(path, size=0)
    assert "luma" in r.decision["colour"]
    assert _max_diff(r.image, luma) <= 1


# ----------------------------------------------------------------------------- synthetic
def make_dicom(path: Path, arr: np.ndarray, photometric: str = "MONOCHROME2", bits_stored: int = 12, **tags) -> Path:
    """Write a minimal valid DICOM file with ``arr`` as pixel data and extra ``tags``."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PID-12345"
    ds.Modality = "DX"
    ds.set_pixel_data(arr, photometric, bits_stored, generate_instance_uid=False)
    for k, v in tags.items():
        setattr(ds, k, v)
    ds.save_as(path, enforce_file_format=True)
    return path


def _ramp(shape=(64, 80), lo=0, hi=4095, dtype=np.uint16) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(lo, hi + 1, size=shape).astype(dtype)


def _check(path: Path, window: str = "file") -> None:
    r = render_file(path, window=window, size=0)
    assert _max_diff(r.image, reference_8bit(_quiet_read(path))) <= 1, r.decision
    return r


@pytest.mark.parametrize("signed", [False, True])
def test_bits_above_bits_stored_are_ignored(tmp_path, signed):
    """Set bits above Bits Stored (an overlay, a careless writer) are ignored as PS3.5 8.1.1
    asks and as pydicom's correct_unused_bits does; clean data stays a view of the file."""
    dtype = np.int16 if signed else np.uint16
    clean = _ramp(lo=-2048 if signed else 0, hi=2047 if signed else 4095, dtype=dtype)
    p = make_dicom(tmp_path / "clean.dcm", clean, PixelRepresentation=int(signed))
    ds = pydicom.dcmread(p)
    ds.PixelData = (clean.view(np.uint16) ^ np.uint16(0xA000)).tobytes()  # garbage in the top 4 bits
    ds.save_as(tmp_path / "dirty.dcm")
    expected = pydicom.dcmread(tmp_path / "dirty.dcm").pixel_array  # pydicom corrects by default
    assert np.array_equal(expected, clean)
    assert np.array_equal(pixels.load(tmp_path / "dirty.dcm").stored, clean)
    kept = pixels.load(p).stored
    assert np.array_equal(kept, clean) and not kept.flags.writeable  # no copy made


def test_monochrome1_window(tmp_path):
    p = make_dicom(tmp_path / "m1.dcm", _ramp(), "MONOCHROME1", WindowCenter=2000, WindowWidth=3000)
    r = _check(p)
    assert r.decision["inverted"] is True and r.decision["photometric"] == "MONOCHROME1"


def test_monochrome1_auto_is_inverted(tmp_path):
    arr = _ramp()
    p1 = make_dicom(tmp_path / "m1.dcm", arr, "MONOCHROME1")
    p2 = make_dicom(tmp_path / "m2.dcm", arr, "MONOCHROME2")
    a = render_file(p1, window="minmax", size=0).image.astype(int)
    b = render_file(p2, window="minmax", size=0).image.astype(int)
    assert np.array_equal(a, 255 - b)


def test_signed_with_rescale(tmp_path):
    arr = _ramp(lo=-2048, hi=2047, dtype=np.int16)
    p = make_dicom(tmp_path / "s.dcm", arr, RescaleSlope=2, RescaleIntercept=-100, WindowCenter=-300, WindowWidth=2500)
    ds = _quiet_read(p)
    assert ds.PixelRepresentation == 1 and ds.pixel_array.min() < 0
    r = _check(p)
    assert r.decision["signed"] is True and r.decision["modality_lut"] == "rescale slope=2 intercept=-100"


def test_voi_lut_sequence(tmp_path):
    lut_item = Dataset()
    n, first = 3000, 500
    lut_item.LUTDescriptor = [n, first, 12]
    lut_item.LUTData = [int(4095 * (i / (n - 1)) ** 0.5) for i in range(n)]
    lut_item["LUTData"].VR = "US"
    p = make_dicom(tmp_path / "v.dcm", _ramp(), VOILUTSequence=[lut_item], WindowCenter=100, WindowWidth=10)
    r = _check(p)
    assert r.decision["voi"].startswith("voi_lut_sequence[0]")


def test_voi_lut_sequence_with_monochrome1_and_ow_data(tmp_path):
    lut_item = Dataset()
    lut_item.LUTDescriptor = [4096, 0, 16]
    lut_item.LUTData = (np.arange(4096, dtype="<u2") * 16).tobytes()
    lut_item["LUTData"].VR = "OW"
    p = make_dicom(tmp_path / "v.dcm", _ramp(), "MONOCHROME1", VOILUTSequence=[lut_item])
    _check(p)


def test_modality_lut_sequence(tmp_path):
    item = Dataset()
    item.LUTDescriptor = [2048, 1000, 16]
    item.LUTData = [3 * i for i in range(2048)]
    item["LUTData"].VR = "US"
    item.ModalityLUTType = "US"
    p = make_dicom(tmp_path / "ml.dcm", _ramp(), ModalityLUTSequence=[item], WindowCenter=3000, WindowWidth=4000)
    r = _check(p)
    assert r.decision["modality_lut"] == "lut"


def test_multivalued_window_uses_first(tmp_path):
    p = make_dicom(tmp_path / "mw.dcm", _ramp(), WindowCenter=[1000, 3000], WindowWidth=[500, 2000])
    r = _check(p)
    assert "C=1000 W=500" in r.decision["voi"] and "1 of 2" in r.decision["voi"]


@pytest.mark.parametrize("func", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
def test_voi_functions_vs_apply_windowing(tmp_path, func):
    p = make_dicom(tmp_path / "f.dcm", _ramp(), WindowCenter=1800, WindowWidth=1201, VOILUTFunction=func)
    ds = _quiet_read(p)
    ref = apply_windowing(ds.pixel_array.astype(np.float64), ds)
    ref8 = np.rint(ref / 4095.0 * 255.0)
    r = render_file(p, size=0)
    assert _max_diff(r.image, ref8) <= 1


@pytest.mark.parametrize("width", [0, -5])
def test_window_width_below_one_rejected(tmp_path, width):
    p = make_dicom(tmp_path / "w0.dcm", _ramp(), WindowCenter=100, WindowWidth=width)
    with pytest.raises(InputRejected) as e:
        render_file(p)
    assert str(e.value).startswith("w0.dcm: (0028,1051) Window Width must be >= 1")


def test_bad_lut_descriptor_rejected(tmp_path):
    item = Dataset()
    item.LUTDescriptor = [100, 0, 12]
    item.LUTData = list(range(50))
    item["LUTData"].VR = "US"
    p = make_dicom(tmp_path / "bad.dcm", _ramp(), VOILUTSequence=[item])
    with pytest.raises(InputRejected, match=r"^bad.dcm: .*\(0028,3002\) LUT Descriptor"):
        render_file(p)


def test_no_pixel_data_rejected(tmp_path):
    p = make_dicom(tmp_path / "np.dcm", _ramp())
    ds = _quiet_read(p)
    del ds.PixelData
    ds.save_as(p)
    with pytest.raises(InputRejected, match=r"^np.dcm: \(7FE0,0010\) Pixel Data is missing$"):
        render_file(p)


def test_auto_window_ignores_constant_border(tmp_path):
    arr = np.zeros((100, 100), dtype=np.uint16)  # collimation border at 0
    arr[20:80, 20:80] = 1000 + _ramp((60, 60), 0, 1000)
    p = make_dicom(tmp_path / "b.dcm", arr)
    r = render_file(p, window="auto", size=0)
    inner = arr[20:80, 20:80].astype(float)
    lo, hi = np.percentile(inner, 1), np.percentile(inner, 99)
    ref = np.clip(np.rint((inner - lo) / (hi - lo) * 255), 0, 255)
    assert _max_diff(r.image[20:80, 20:80], ref) <= 2
    assert "border" in r.decision["voi"]


@pytest.mark.parametrize(
    "window,c,w", [("bone", 500, 2000), ("brain", 40, 80), ("subdural", 75, 215), ("100,50", 100, 50)]
)
def test_presets_and_user_window(tmp_path, window, c, w):
    arr = _ramp(lo=-1024, hi=2000, dtype=np.int16)
    p = make_dicom(tmp_path / "ct.dcm", arr, RescaleSlope=1, RescaleIntercept=0)
    ds = _quiet_read(p)
    ds.WindowCenter, ds.WindowWidth = c, w
    ref = reference_8bit(ds)
    assert _max_diff(render_file(p, window=window, size=0).image, ref) <= 1


@pytest.mark.parametrize("window", ["lung", "1,0", "abc,5", "", "file,auto"])
def test_unknown_window_is_config_error(tmp_path, window):
    p = make_dicom(tmp_path / "x.dcm", _ramp())
    with pytest.raises(ConfigError, match="window"):
        render_file(p, window=window)


def test_lut_path_equals_elementwise_path():
    arr = _ramp(lo=-3000, hi=3000, dtype=np.int16)
    chain = pixels.Chain(pixels.Rescale(1.5, -7), pixels.Window(100, 3001, "SIGMOID"), True)
    fast, how = pixels.apply_chain(arr, chain)
    assert how.startswith("lut")
    assert np.array_equal(fast, chain(arr))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, ">u2"])
def test_straight_line_chains_give_the_tables_values(dtype):
    """The OpenCV path for rescale + linear window chains (lut._on_line) equals the table
    lookup wherever it is taken, and it is taken for most such windows."""
    rng = np.random.default_rng(7)
    info = np.iinfo(np.dtype(dtype))
    lo, hi = max(info.min, -3000), min(info.max, 4095)
    taken = 0
    for i in range(60):
        arr = rng.integers(lo, hi + 1, (37, 53)).astype(dtype)
        span = hi - lo
        center = float(rng.uniform(lo, hi)) if i % 3 else float(round(rng.uniform(lo, hi)))
        width = float(rng.uniform(span / 8, 2 * span)) if i % 4 else float(rng.integers(300, span + 300))
        modality = pixels.Rescale(float(rng.choice([1.0, 0.5, 2.0])), float(rng.integers(-50, 50))) if i % 2 else None
        voi = pixels.Window(center, width, "LINEAR" if i % 5 else "LINEAR_EXACT") if i % 7 else None
        chain = pixels.Chain(modality, voi, bool(i % 3 == 0), identity_max=float(hi))
        table = chain(pixels.lut_domain(arr.dtype))
        line = lut._on_line(arr, chain)
        expected = np.take(table, pixels.unsigned_view(arr))
        taken += line is not None
        assert line is None or np.array_equal(line, expected), (i, chain)
        assert np.array_equal(pixels.apply_chain(arr, chain)[0], expected)
    assert taken >= 30


def test_chains_that_are_not_one_line_take_the_table():
    assert pixels.Chain(None, pixels.Window(40, 400, "SIGMOID"), False).line() is None
    assert pixels.Chain(pixels.Rescale(-1.0, 0.0), pixels.Window(40, 400), False).line() is None
    lut_voi = pixels.Lut(0, np.arange(256, dtype=np.uint16), 8)
    assert pixels.Chain(None, lut_voi, False).line() is None
    assert lut._line_uint8(np.zeros((2, 2), np.uint16), 3.0, -1.6) is None  # a narrow window: no shift fits


# ----------------------------------------------------------------------------- images
def test_png16_and_colour_jpeg(tmp_path):
    a16 = (_ramp((40, 60)) * 16).astype(np.uint16)
    p = tmp_path / "a.png"
    cv2.imwrite(str(p), a16)
    r = render_file(p, size=0, window="minmax")
    lo, hi = a16.min(), a16.max()
    assert _max_diff(r.image, np.rint((a16 - float(lo)) / (hi - lo) * 255)) <= 1
    assert r.header == {} and r.decision["bits_stored"] == 16

    bgr = np.zeros((30, 50, 3), np.uint8)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 200, 100, 50
    pj = tmp_path / "c.png"
    cv2.imwrite(str(pj), bgr)
    r = render_file(pj, size=0)
    assert int(r.image[0, 0]) == round(0.299 * 50 + 0.587 * 100 + 0.114 * 200)


@pytest.mark.parametrize("content", [b"", b"\xff\xd8\xff\xe0garbage", b"hello"])
def test_corrupt_jpg_rejected(tmp_path, content):
    p = tmp_path / "bad.jpg"
    p.write_bytes(content)
    with pytest.raises(InputRejected, match=r"^bad.jpg: "):
        render_file(p)


def test_letterbox_and_padding(tmp_path):
    p = make_dicom(tmp_path / "r.dcm", _ramp((100, 200)))
    r = render_file(p, size=64)
    assert r.image.shape == (64, 64) and r.source_shape == (100, 200)
    assert r.scale == pytest.approx(0.32)
    assert r.padding["top"] == 16 and r.padding["bottom"] == 16 and r.padding["left"] == 0
    assert not r.image[:16].any() and not r.image[-16:].any()
    assert r.header["PatientID"] == "PID-12345" and r.header["PatientAge"] is None


def test_encode_is_deterministic():
    img = (_ramp((50, 70)) // 16).astype(np.uint8)
    for fmt in ("jpg", "png"):
        a, b = imaging.encode_image(img, fmt), imaging.encode_image(img.copy(), fmt)
        assert a == b
        back = cv2.imdecode(np.frombuffer(a, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert back.shape == img.shape
    assert np.array_equal(cv2.imdecode(np.frombuffer(imaging.encode_image(img, "png"), np.uint8), 0), img)
