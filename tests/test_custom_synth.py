"""The pedirad_custom synthetic generator: same bytes for the same seed (whatever the
workers), the seed's layout, record counts, the planted bad inputs, and children shared by
the bone-age and fracture sets carrying one PatientID."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path

import cv2
import pydicom
import pytest

from radtune.variants.pedirad_custom.synth import generate, plan

pytest.importorskip("radtune.synth.fundus", reason="radtune.synth.fundus (branch fundus) not merged yet")

N, SEED = 60, 5
SPLITS = ("train", "val", "test")
ROP_FOLDER = re.compile(r"^(normal_pupil|zone_(i|ii|iii)_stage[1-5])$")


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _read(path: Path, **kw) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, **kw)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, dict, Path, dict]:
    a, b = tmp_path_factory.mktemp("custom_w1"), tmp_path_factory.mktemp("custom_w2")
    return a, generate(a, n=N, seed=SEED, workers=1), b, generate(b, n=N, seed=SEED, workers=2)


def _records(root: Path) -> dict[str, list[dict]]:
    out = {"rop_screening": [], "fractures": []}
    for task in out:
        out[task] = json.loads((root / task / "annotations.json").read_text())
    out["bone_age"] = []
    for split in SPLITS:
        out["bone_age"] += json.loads((root / "bone_age" / f"{split}_annotations.json").read_text())
    return out


def test_same_seed_same_bytes_whatever_the_workers(runs):
    a, sa, b, sb = runs
    da, db = _digests(a), _digests(b)
    assert da == db
    assert sa == sb
    assert len(da) == sa["files"]


def test_rerun_into_the_same_folder_is_identical_and_other_seed_differs(runs, tmp_path):
    from radtune.errors import ConfigError

    a, sa, _, _ = runs
    before = _digests(a)
    assert generate(a, n=N, seed=SEED, workers=2) == sa
    assert _digests(a) == before
    other = plan(N, SEED + 1)
    assert [i.record for i in other.items] != [i.record for i in plan(N, SEED).items]
    (tmp_path / "stray.txt").write_text("x")
    with pytest.raises(ConfigError, match="stray.txt"):
        generate(tmp_path, n=4, seed=0)


def test_layout(runs):
    a, _, _, _ = runs
    assert sorted(p.name for p in a.iterdir()) == ["bone_age", "fractures", "rop_screening"]
    assert sorted(p.name for p in (a / "bone_age").iterdir()) == sorted(
        [*SPLITS, *(f"{s}_annotations.json" for s in SPLITS)]
    )
    rop = [p.name for p in (a / "rop_screening").iterdir() if p.is_dir()]
    assert "normal_pupil" in rop and all(ROP_FOLDER.match(f) for f in rop), rop
    fx = {p.name for p in (a / "fractures").iterdir() if p.is_dir()}
    assert fx <= {"distal_radius", "buckle", "normal"} and "normal" in fx
    assert (a / "rop_screening" / "annotations.json").is_file() and (a / "fractures" / "annotations.json").is_file()
    suffixes = {p.suffix for p in (a / "rop_screening").rglob("*") if p.is_file() and p.suffix != ".json"}
    assert suffixes == {".png", ".jpg", ".dcm"}
    assert {p.suffix for p in (a / "bone_age").rglob("*") if p.is_file() and p.suffix != ".json"} == {".dcm"}


def test_record_counts_and_fields(runs):
    a, s, _, _ = runs
    recs = _records(a)
    planted = {d["file"] for d in s["planted"]}
    clean = {t: [r for r in rs if f"{t}/{r['image_path']}" not in planted] for t, rs in recs.items()}
    assert {t: len(rs) for t, rs in clean.items()} == {"bone_age": 18, "rop_screening": 24, "fractures": 18}
    for task, rs in recs.items():
        assert s["tasks"][task]["records"] == len(rs)
        assert all(isinstance(r["patient_id"], str) and r["patient_id"] for r in rs)
    for r in clean["bone_age"]:
        assert r["bone_age_months"] >= 0 and r["sex"] in ("M", "F") and r["age_months"] >= 0
    for r in clean["rop_screening"]:
        assert r["stage"] in range(6) and (r["zone"] is None) == (r["stage"] == 0)
        assert r["zone"] in (None, "I", "II", "III") and 31 <= r["postmenstrual_age_weeks"] <= 44
        assert not (r["plus_disease"] and r["stage"] == 0)
        folder = r["image_path"].split("/")[0]
        want = "normal_pupil" if r["stage"] == 0 else f"zone_{r['zone'].lower()}_stage{r['stage']}"
        assert folder == want
    for r in clean["fractures"]:
        folder = r["image_path"].split("/")[0]
        assert r["location"] == ("distal_radius" if r["fracture"] else "none")
        assert folder == (
            "normal" if not r["fracture"] else "buckle" if r["fracture_type"] == "buckle" else "distal_radius"
        )


def test_planted_inputs(runs):
    a, s, _, _ = runs
    assert s["planted"] == plan(12, SEED).planted  # the same handful whatever n
    by_field = {d["field"]: d for d in s["planted"]}
    assert set(by_field) == {"zone", "stage", "image_path", "bone_age_months", "PixelData", "image"}
    recs = _records(a)

    def record(d: dict) -> dict:
        task, rel = d["file"].split("/", 1)
        (r,) = [r for r in recs[task] if r["image_path"] == rel]
        return r

    assert record(by_field["zone"])["zone"] == "IV"
    assert record(by_field["stage"])["stage"] == 7
    assert record(by_field["bone_age_months"])["bone_age_months"] == -4
    assert not (a / by_field["image_path"]["file"]).exists()
    assert cv2.imread(str(a / by_field["image"]["file"])) is None
    truncated = _read(a / by_field["PixelData"]["file"])
    with pytest.raises((ValueError, EOFError, OSError)):
        truncated.pixel_array  # noqa: B018
    for d in s["planted"]:
        if d["field"] in ("zone", "stage", "bone_age_months"):
            assert (a / d["file"]).is_file()


def test_every_referenced_image_exists_and_headers_match(runs):
    a, s, _, _ = runs
    missing = {d["file"] for d in s["planted"] if d["field"] == "image_path"}
    recs = _records(a)
    referenced = set()
    for task, rs in recs.items():
        for r in rs:
            rel = f"{task}/{r['image_path']}"
            referenced.add(rel)
            assert (a / rel).is_file() != (rel in missing), rel
            if rel.endswith(".dcm") and rel not in missing:
                ds = _read(a / rel, stop_before_pixels=True)
                assert ds.PatientID == r["patient_id"], rel
                assert ds.PatientSex == r["sex"], rel
    images = {p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file() and p.suffix != ".json"}
    assert images == referenced - missing  # no unreferenced file either


def test_children_shared_by_bone_age_and_fractures(runs):
    a, s, _, _ = runs
    recs = _records(a)
    ba = {r["patient_id"]: r for r in recs["bone_age"]}
    shared = [r for r in recs["fractures"] if r["patient_id"] in ba]
    assert len({r["patient_id"] for r in shared}) == s["shared_patients"] >= 1
    fx_dicom = [r for r in shared if r["image_path"].endswith(".dcm")]
    assert fx_dicom, "at least one shared child has a DICOM fracture study"
    for r in fx_dicom:
        b = ba[r["patient_id"]]
        h1 = _read(a / "fractures" / r["image_path"], stop_before_pixels=True)
        h2 = _read(a / "bone_age" / b["image_path"], stop_before_pixels=True)
        for key in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex"):
            assert h1.get(key) == h2.get(key), key
        assert h1.StudyInstanceUID != h2.StudyInstanceUID and h1.StudyDate > h2.StudyDate
        assert r["sex"] == b["sex"] and r["age_months"] > b["age_months"]
