"""The colour pixel path: pixels.colour.load_rgb, letterbox on RGB, quality.colour and
render.render_colour_file, checked against independent computations (the PS3.3 YBR_FULL
equations written out here, OpenCV per channel, dcmtk when installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from radtune import imaging
from radtune.errors import InputRejected
from radtune.pixels import load_rgb
from radtune.quality.colour import assess_colour
from radtune.render import render_colour_file
from radtune.synth import dicom_writer as dw
from radtune.synth.fundus import fundus_dicom, fundus_dicom_bytes, fundus_rgb

HEADER = {"PatientID": "ROP0001", "PatientSex": "F", "Laterality": "R"}


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    return fundus_rgb(np.random.default_rng(21), zone="II", stage=3, plus=True, size=320)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def ybr422_reference(rgb: np.ndarray) -> np.ndarray:
    """PS3.3 C.7.6.3.1.2 written out: RGB -> YBR_FULL (8-bit, rounded), Cb/Cr averaged
    over horizontal pixel pairs, back to RGB with the inverse equations."""
    r, g, b = (rgb[..., k].astype(np.float64) for k in range(3))
    y = np.round(0.299 * r + 0.587 * g + 0.114 * b)
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    cb = np.repeat((cb[:, 0::2] + cb[:, 1::2]) / 2, 2, axis=1).round()
    cr = np.repeat((cr[:, 0::2] + cr[:, 1::2]) / 2, 2, axis=1).round()
    out = np.stack([y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128), y + 1.772 * (cb - 128)])
    return np.clip(np.round(out), 0, 255).astype(np.uint8).transpose(1, 2, 0)


def test_rgb_dicom_decodes_exactly_with_header(tmp_path, rgb):
    got, header = load_rgb(write(tmp_path, "a.dcm", fundus_dicom_bytes(rgb, HEADER, "RGB")))
    assert got.dtype == np.uint8 and got.shape == rgb.shape
    assert np.array_equal(got, rgb)
    assert header["PatientID"] == "ROP0001" and header["Modality"] == "OP" and header["StudyDate"] is None


def test_ybr_full_422_decodes_close_to_the_original_and_to_the_equations(tmp_path, rgb):
    got, _ = load_rgb(write(tmp_path, "b.dcm", fundus_dicom_bytes(rgb, HEADER, "YBR_FULL_422")))
    diff = np.abs(got.astype(int) - rgb.astype(int))
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 10  # chroma halved: only edges move
    ref = np.abs(got.astype(int) - ybr422_reference(rgb).astype(int))
    # rounding only: the writer rounds Cb/Cr to 8 bits before averaging a pair
    assert ref.max() <= 3 and (ref > 2).mean() < 0.001 and ref.mean() < 0.5, (ref.max(), ref.mean())


def test_ybr_full_and_planar_configuration_1(tmp_path, rgb):
    ds = fundus_dicom(rgb, HEADER, "RGB")
    ds.PixelData = np.ascontiguousarray(rgb.transpose(2, 0, 1)).tobytes()  # R plane, G plane, B plane
    ds.PlanarConfiguration = 1
    got, _ = load_rgb(write(tmp_path, "planar.dcm", dw.encode(ds, "explicit")))
    assert np.array_equal(got, rgb)
    ds = fundus_dicom(rgb, HEADER, "RGB")
    ds.set_pixel_data(pydicom.pixels.convert_color_space(rgb, "RGB", "YBR_FULL"), "YBR_FULL", 8)
    got, _ = load_rgb(write(tmp_path, "full.dcm", dw.encode(ds, "explicit")))
    assert np.abs(got.astype(int) - rgb.astype(int)).max() <= 2


@pytest.mark.skipif(shutil.which("dcmj2pnm") is None, reason="dcmtk (dcmj2pnm) is not installed")
@pytest.mark.parametrize("photometric", ["RGB", "YBR_FULL_422"])
def test_matches_dcmtk(tmp_path, rgb, photometric):
    src = write(tmp_path, f"{photometric}.dcm", fundus_dicom_bytes(rgb, HEADER, photometric))
    out = tmp_path / f"{photometric}.png"
    subprocess.run(["dcmj2pnm", "--write-png", str(src), str(out)], check=True, capture_output=True)
    theirs = cv2.cvtColor(cv2.imread(str(out), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    ours, _ = load_rgb(src)
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 2


def test_jpg_png_colour_and_grey(tmp_path, rgb):
    png, header = load_rgb(write(tmp_path, "c.png", imaging.encode_image(rgb, "png")))
    assert np.array_equal(png, rgb) and set(header.values()) == {None}
    jpg, _ = load_rgb(write(tmp_path, "c.jpg", imaging.encode_image(rgb, "jpg")))
    assert np.abs(jpg.astype(int) - rgb.astype(int)).mean() < 3
    assert jpg[..., 0].mean() > jpg[..., 2].mean() + 30  # channels in RGB order (red retina)
    grey = rgb[..., 1]
    got, _ = load_rgb(write(tmp_path, "g.png", imaging.encode_image(grey, "png")))
    assert got.shape == rgb.shape and all(np.array_equal(got[..., k], grey) for k in range(3))


def test_corrupt_and_unsupported_files_are_rejected_naming_the_file(tmp_path, rgb):
    cases = {
        "bad.jpg": (b"\xff\xd8\xff" + b"\0" * 64, "JPEG image is empty or corrupt"),
        "bad.png": (b"not a png", "not a valid PNG image"),
        "notdicom.dcm": (b"x" * 300, "not a DICOM file"),
        "cut.dcm": (dw.truncated(fundus_dicom_bytes(rgb, HEADER, "RGB")), "Pixel Data is truncated"),
    }
    ds16 = fundus_dicom(rgb, HEADER, "RGB")
    ds16.set_pixel_data(rgb.astype(np.uint16) * 256, "RGB", 16)
    cases["rgb16.dcm"] = (dw.encode(ds16, "explicit"), "(0028,0100) Bits Allocated is 16")
    ds_pal = fundus_dicom(rgb, HEADER, "RGB")
    ds_pal.set_pixel_data(rgb[..., 0], "MONOCHROME2", 8)
    ds_pal.PhotometricInterpretation = "YBR_PARTIAL_422"
    cases["weird.dcm"] = (dw.encode(ds_pal, "explicit"), "(0028,0004) Photometric Interpretation")
    for name, (data, why) in cases.items():
        with pytest.raises(InputRejected) as e:
            load_rgb(write(tmp_path, name, data))
        msg = str(e.value)
        assert msg.startswith(f"{name}: ") and why in msg and "\n" not in msg, msg


def test_letterbox_rgb_is_per_channel_letterbox():
    rng = np.random.default_rng(3)
    for shape in [(120, 80, 3), (80, 120, 3), (50, 50, 3)]:
        im = rng.integers(0, 256, shape, dtype=np.uint8)
        for size in (0, 32, 64, 200):
            out, pad, scale = imaging.letterbox(im, size)
            assert out.shape == ((size, size, 3) if size else shape)
            for k in range(3):
                grey, gpad, gscale = imaging.letterbox(np.ascontiguousarray(im[..., k]), size)
                assert np.array_equal(out[..., k], grey) and pad == gpad and scale == gscale
            if size and pad["left"]:
                assert not out[:, : pad["left"]].any()


def test_quality_clean_fundus_images_pass():
    rng = np.random.default_rng(5)
    combos = [(None, 0, False), (None, 0, True)] + [
        (z, s, p) for z in ("I", "II", "III") for s in (1, 2, 3, 4, 5) for p in (False, True)
    ]
    scores = [assess_colour(fundus_rgb(rng, zone=z, stage=s, plus=p))["score"] for z, s, p in combos]
    assert min(scores) >= 0.9, scores


@pytest.mark.parametrize(
    ("degrade", "component"),
    [
        (lambda im: cv2.GaussianBlur(im, (0, 0), 6), "focus"),
        (lambda im: (im.astype(np.float32) * 0.25).astype(np.uint8), "illumination"),
        (lambda im: np.concatenate([im[:, :320], np.zeros_like(im[:, 320:])], axis=1), "coverage"),
    ],
)
def test_quality_degraded_copies_fail_naming_the_component(degrade, component):
    for seed in range(4):
        im = fundus_rgb(np.random.default_rng(seed), zone=("I", "II", "III", "II")[seed], stage=2, plus=seed % 2 == 1)
        clean = assess_colour(im)
        q = assess_colour(degrade(im))
        assert clean["score"] >= 0.9
        assert q["score"] < 0.5 and q["components"][component] < 0.5, q
        name, value = q["detail"].split(" (")[0].split(" ")
        assert name == component and abs(float(value) - q["components"][component]) <= 0.01, q["detail"]
        others = [k for k in q["components"] if k != component]
        assert all(q["components"][k] >= 0.9 for k in others), q


def test_render_colour_file(tmp_path, rgb):
    path = write(tmp_path, "r.dcm", fundus_dicom_bytes(rgb, HEADER, "YBR_FULL_422"))
    r = render_colour_file(path, 96)
    assert r.image.shape == (96, 96, 3) and r.image.dtype == np.uint8
    assert r.source_shape == (320, 320) and r.scale == 0.3
    assert r.decision["colour"] == "YBR_FULL_422 -> RGB"
    assert r.decision["transfer_syntax"] == ExplicitVRLittleEndian.name
    assert set(r.quality) == {"score", "components", "measures", "detail"}
    assert set(r.quality["components"]) == {"focus", "illumination", "coverage"}
    assert r.quality["score"] >= 0.9 and r.header["PatientID"] == "ROP0001"
    png = render_colour_file(write(tmp_path, "r.png", imaging.encode_image(rgb, "png")), 0)
    assert np.array_equal(png.image, rgb) and png.decision["colour"] == "BGR -> RGB"
