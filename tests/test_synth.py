"""The PediRad synthetic generator: deterministic bytes, decodable and realistic DICOM,
planted trouble files, and pixels that show the labels."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless

from radtune.errors import ConfigError
from radtune.normalize import age_months_from_header
from radtune.variants.pedirad_8k import anatomy as an
from radtune.variants.pedirad_8k.labels import parse_filename
from radtune.variants.pedirad_8k.synth import PHI_TAGS, generate, plan, render_presentation

REQUIRED = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "AccessionNumber",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "StudyTime",
    "StudyID",
    "BodyPartExamined",
    "ViewPosition",
    "StudyDescription",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "RescaleSlope",
    "RescaleIntercept",
    "Modality",
)


def _read(path: Path, **kw) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, **kw)


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("pedirad40")
    return out, generate(out, n=40, seed=3)


def test_same_seed_gives_identical_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    generate(a, n=12, seed=7, workers=1)
    generate(b, n=12, seed=7, workers=2)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) and len(names) == 13
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    c = tmp_path / "c"
    generate(c, n=12, seed=8, workers=1)
    assert sorted(p.name for p in c.iterdir()) != names or any(
        (a / n).read_bytes() != (c / n).read_bytes() for n in names
    )


def test_refuses_foreign_files(tmp_path):
    (tmp_path / "old_0001.dcm").write_bytes(b"x")
    with pytest.raises(ConfigError, match="old_0001.dcm"):
        generate(tmp_path, n=3, seed=0)


def test_good_files_decode_and_headers_match_names(pool):
    out, summary = pool
    files = sorted(out.glob("*.dcm"))
    assert len(files) == 40 == summary["files"]
    bad = {n for names in summary["trouble"].values() for n in names}
    good = [f for f in files if f.name not in bad]
    assert len(good) == summary["kinds"]["ok"] >= 30
    seen = {"photometric": set(), "syntax": set(), "voi_lut": 0, "multi_window": 0, "modality": set()}
    for f in good:
        labels = parse_filename(f.name)
        ds = _read(f)
        for key in REQUIRED:
            assert key in ds and str(ds.data_element(key).value) != "", f"{f.name}: {key} missing"
        assert ds.PatientSex == labels.sex
        assert ds.PatientAge == f"{labels.age_months:03d}M"
        assert age_months_from_header(None, ds.PatientBirthDate, ds.StudyDate) == labels.age_months
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (16, 12, 11, 0)
        arr = ds.pixel_array
        assert arr.shape == (ds.Rows, ds.Columns) and arr.dtype == np.uint16 and int(arr.max()) < 4096
        assert 900 <= ds.Rows <= 1300 and 700 // 2 <= ds.Columns <= 1000
        for key in PHI_TAGS:
            if key in ds:
                assert len(str(ds.data_element(key).value)) >= 6, f"{f.name}: {key} too short"
        seen["photometric"].add(ds.PhotometricInterpretation)
        seen["syntax"].add(ds.file_meta.TransferSyntaxUID)
        seen["modality"].add(ds.Modality)
        seen["voi_lut"] += "VOILUTSequence" in ds
        seen["multi_window"] += "WindowCenter" in ds and ds["WindowCenter"].VM > 1
    assert seen["photometric"] == {"MONOCHROME1", "MONOCHROME2"}
    assert seen["syntax"] == {ExplicitVRLittleEndian, RLELossless, JPEG2000Lossless}
    assert seen["modality"] == {"CR", "DX"}
    assert seen["voi_lut"] >= 1 and seen["multi_window"] >= 1


def test_labels_csv(pool):
    out, _ = pool
    rows = list(csv.DictReader((out / "labels.csv").open()))
    assert [r["filename"] for r in rows] == sorted(p.name for p in out.glob("*.dcm"))
    for r in rows:
        assert 0 <= int(r["bone_age_months"]) <= 200 and r["clinical_context"]


def test_trouble_files_fail_as_planned(pool):
    out, summary = pool
    t = summary["trouble"]
    assert {k: len(v) for k, v in t.items()} == {"truncated": 1, "no_pixel_data": 1, "underexposed": 2, "not_dicom": 1}
    for name in t["truncated"]:
        ds = _read(out / name)
        assert ds.PatientID.startswith("MRN")
        with pytest.raises(ValueError):
            _ = ds.pixel_array
    for name in t["no_pixel_data"]:
        ds = _read(out / name)
        assert "PixelData" not in ds and ds.PatientID.startswith("MRN")
    for name in t["not_dicom"]:
        with pytest.raises(pydicom.errors.InvalidDicomError):
            _read(out / name)
    for name in t["underexposed"]:
        ds = _read(out / name)
        assert "WindowCenter" not in ds and "VOILUTSequence" not in ds
        p1, p99 = np.percentile(ds.pixel_array, [1, 99])
        assert p99 - p1 < 0.08 * 4096, name
        parse_filename(name)


def test_modality_lut_keeps_a_sensible_image(pool):
    """After rescale, bone (bright in display) and air differ by many units in the right direction."""
    out, summary = pool
    bad = {n for names in summary["trouble"].values() for n in names}
    for f in sorted(out.glob("*.dcm"))[:12]:
        if f.name in bad:
            continue
        ds = _read(f)
        o = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
        if ds.PhotometricInterpretation == "MONOCHROME1":
            o = -o
        p5, p95 = np.percentile(o, [5, 95])
        assert p95 - p5 > 300 * min(float(ds.RescaleSlope), 1.0), f.name


def test_carpal_count_grows_with_bone_age():
    assert an.carpal_count(2) == 0
    assert an.carpal_count(48) in (3, 4)
    assert an.carpal_count(144) >= 7


def _fracture_vs_normal_at_64px(seed: int) -> float:
    """Max |fracture - normal| over 64x64 downscales of the same PA view rendered with and
    without its (non-buckle, distal radius) fracture; noise and exposure are identical."""
    from dataclasses import replace

    import cv2

    from radtune.variants.pedirad_8k.labels import FileLabels

    specs = [
        s
        for s in plan(300, seed)
        if s.kind == "ok"
        and s.view == "PA"
        and s.patient.labels.fracture
        and s.patient.labels.location == "distal_radius"
        and s.patient.labels.fracture_type != "buckle"
    ][:3]
    assert specs
    diffs = []
    for s in specs:
        lab = s.patient.labels
        normal = replace(
            s, patient=replace(s.patient, labels=FileLabels(lab.age_months, lab.sex, False, "none", "none"))
        )
        small = [
            cv2.resize(render_presentation(x, seed)[0].astype(np.float32), (64, 64), interpolation=cv2.INTER_AREA)
            for x in (s, normal)
        ]
        diffs.append(float(np.abs(small[0] - small[1]).max()))
    return float(np.mean(diffs))


def test_fracture_changes_pixels_visibly_at_64px():
    # a coarse fracture changes some 64x64 pixels by a large share of the bone contrast (~900)
    assert _fracture_vs_normal_at_64px(0) > 300


def test_buckle_bulges_the_cortex():
    bone = an.forearm_bones(60, an.VIEWS["PA"])["radius"]
    t = 0.93
    plain = an.bone_shapes(bone)[0].pts
    buckled = an.bone_shapes(bone, an.Fracture("buckle", "radius", t, an.Rigid(), bulge=0.8))[0].pts
    width = lambda pts: float(pts[:, 0].max() - pts[:, 0].min())  # noqa: E731
    assert width(buckled) > width(plain) * 1.05
