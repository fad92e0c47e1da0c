"""`radtune convert` / `radtune inspect` end to end, as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydicom.data import get_testdata_file

from test_pixels import make_dicom


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "radtune.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def good_dicom(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    arr = rng.integers(200, 3800, (300, 200)).astype(np.uint16)
    p = tmp_path_factory.mktemp("cli") / "good.dcm"
    return make_dicom(
        p,
        arr,
        "MONOCHROME1",
        12,
        WindowCenter=2000,
        WindowWidth=3000,
        StudyDate="20240102",
        InstitutionName="Sunny Hospital",
        PatientBirthDate="20150304",
    )


@pytest.mark.parametrize(
    "dst,size,shape", [("out.jpg", None, (512, 512)), ("sub/out.png", "64", (64, 64)), ("n.png", "0", (300, 200))]
)
def test_convert_good(tmp_path, good_dicom, dst, size, shape):
    out = tmp_path / dst
    args = ["convert", str(good_dicom), str(out)] + (["--size", size] if size else [])
    r = run(*args)
    assert r.returncode == 0, r.stderr
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.shape == shape and img.dtype == np.uint8
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_convert_is_deterministic_and_matches_library(tmp_path, good_dicom):
    from radtune.imaging import encode_image
    from radtune.render import render_file

    out = tmp_path / "a.png"
    assert run("convert", str(good_dicom), str(out), "--window", "auto").returncode == 0
    assert out.read_bytes() == encode_image(render_file(good_dicom, window="auto").image, "png")


def _bundled(name: str) -> str:
    return get_testdata_file(name, download=False)


def _mpeg2_labelled(tmp_path):
    """A still image labelled MPEG2: a transfer syntax no image decoder takes."""
    import pydicom
    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(_bundled("CT_small.dcm"))
    ds.PixelData = encapsulate([ds.PixelData])
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"
    ds.save_as(tmp_path / "mpeg2.dcm", enforce_file_format=True)
    return str(tmp_path / "mpeg2.dcm")


@pytest.mark.parametrize(
    "src,extra,expect",
    [
        (lambda t: _bundled("MR_truncated.dcm"), [], "(7FE0,0010)"),
        (lambda t: _bundled("no_meta.dcm"), [], "DICM"),
        (_mpeg2_labelled, [], "(0002,0010)"),
        (lambda t: _bundled("JPEG2000-embedded-sequence-delimiter.dcm"), [], "(7FE0,0010)"),
        (lambda t: (t / "empty.jpg").write_bytes(b"") or str(t / "empty.jpg"), [], "empty.jpg"),
        (lambda t: _bundled("CT_small.dcm"), ["--window", "lung"], "window"),
        (lambda t: str(t / "missing.dcm"), [], "missing.dcm"),
    ],
    ids=["truncated", "no-meta", "no-decoder", "broken-j2k", "empty-jpg", "bad-window", "missing-file"],
)
def test_convert_bad_one_line_no_output(tmp_path, src, extra, expect):
    dst = tmp_path / "out" / "x.jpg"
    r = run("convert", src(tmp_path), str(dst), *extra)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr and expect in lines[0]
    assert not dst.exists() and not (tmp_path / "out").exists()


def test_inspect_good_no_phi(good_dicom):
    import pydicom

    r = run("inspect", str(good_dicom))
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    tags, decision = info["tags"], info["decision"]
    assert tags["PhotometricInterpretation"] == "MONOCHROME1" and tags["BitsStored"] == 12
    assert tags["Rows"] == 300 and tags["Columns"] == 200 and tags["WindowWidth"] == 3000
    assert tags["VOILUTSequence"] is None and tags["TransferSyntax"] == "Explicit VR Little Endian"
    assert decision["inverted"] is True and decision["voi"].startswith("window C=2000 W=3000")
    ds = pydicom.dcmread(good_dicom)
    for secret in ("Doe", "Jane", "PID-12345", "20240102", "20150304", "Sunny", str(ds.SOPInstanceUID), "good.dcm"):
        assert secret not in r.stdout, secret


def test_inspect_bad_one_line():
    r = run("inspect", _bundled("rtplan.dcm"))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "(7FE0,0010) Pixel Data is missing" in r.stderr


@pytest.mark.parametrize("how", ["relative", "absolute", "dotted"])
def test_errors_name_the_file_as_given(tmp_path, how):
    """#11 point 6: a user with files of the same name in several folders must see which one
    failed: the error names the path exactly as typed, not only its base name."""
    (tmp_path / "site_a").mkdir()
    (tmp_path / "site_a" / "empty.jpg").write_bytes(b"")
    shutil.copy(_bundled("MR_truncated.dcm"), tmp_path / "site_a" / "scan.dcm")
    given = {"relative": "site_a/{}", "absolute": str(tmp_path / "site_a" / "{}"), "dotted": "./site_a/../site_a/{}"}
    for name, command in (
        ("empty.jpg", "convert"),
        ("scan.dcm", "convert"),
        ("scan.dcm", "inspect"),
        ("no.dcm", "inspect"),
    ):
        src = given[how].format(name)
        extra = [str(tmp_path / "out.jpg")] if command == "convert" else []
        r = subprocess.run(
            [sys.executable, "-m", "radtune.cli", command, src, *extra],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().startswith(f"radtune {command}: error: {src}: "), r.stderr
    r = run("convert", _bundled("CT_small.dcm"), str(tmp_path / "sub" / "out.bmp"))
    assert f"error: {tmp_path / 'sub' / 'out.bmp'}: unsupported image suffix" in r.stderr, r.stderr
