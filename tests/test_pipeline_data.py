"""The data half of the pipeline, run for real with `dvc repro` on a small synthetic set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest

from pipeline_repo import dvc, make_repo, tree_digest
from radtune.synth import generate

pytestmark = pytest.mark.slow  # one dvc repro (`make test` keeps a module on one worker)

N = 48
DATA = Path("data/pedirad-8k")
RAW = Path("data/raw/pedirad-8k")
PLANTED = {
    "PatientName": "QUUXLEY^PLANTEDNAME",
    "PatientID": "PLANTED-ID-991",
    "AccessionNumber": "ACCPLANT7731",
    "InstitutionName": "Planted Memorial Hospital",
    "ReferringPhysicianName": "DRPLANTED^ZED",
    "PatientBirthDate": "20130917",
}
PHI_KEYWORDS = (
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "PatientBirthDate",
    "AccessionNumber",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "StudyID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
)


def _plant_phi(raw: Path) -> None:
    """Overwrite header PHI of the first readable DICOM with distinctive values."""
    for f in sorted(raw.glob("*.dcm")):
        try:
            ds = pydicom.dcmread(f)
            _ = ds.pixel_array
        except Exception:  # noqa: BLE001 - planted bad files are skipped
            continue
        for k, v in PLANTED.items():
            setattr(ds, k, v)
        ds.save_as(f)
        return


def _phi_values(raw: Path) -> set[str]:
    values = set(PLANTED.values())
    for f in sorted(raw.rglob("*.dcm")):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - unreadable inputs carry no readable PHI
            continue
        for k in PHI_KEYWORDS:
            v = str(ds.get(k, "") or "")
            values.update(part for part in v.replace("^", " ").split() + [v] if len(part) >= 6)
    return values


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = make_repo(tmp_path_factory.mktemp("pipe") / "repo", {"dataset.synth.n": N})
    generate("pedirad_8k", root / RAW, n=N, seed=0)
    _plant_phi(root / RAW)
    dvc(["repro", "leakage-check"], root)
    return root


def test_layout_and_counts_add_up(repo):
    d = repo / DATA
    log = json.loads((d / "processing_log.json").read_text())
    inputs = [p for p in (repo / RAW).rglob("*") if p.is_file() and p.name != "labels.csv"]
    assert log["inputs"] == len(inputs) == len(log["files"])
    assert log["processed"] + log["rejected"] == log["inputs"]
    assert all(e["reason"] for e in log["files"] if e["status"] == "rejected")
    total = 0
    for split in ("train", "val", "test"):
        ann = json.loads((d / "annotations" / f"{split}_annotations.json").read_text())
        assert ann, split
        for rec in ann:
            assert rec["split"] == split and (d / rec["image_path"]).is_file()
            assert {
                "image_id",
                "patient_id",
                "age_months",
                "sex",
                "fracture",
                "fracture_type",
                "location",
                "bone_age_months",
                "clinical_context",
                "quality_score",
            } <= rec.keys()
        assert len(list((d / "processed" / split).iterdir())) == len(ann)
        total += len(ann)
    assert total == log["processed"]
    assert (d / "quality_report.json").is_file()
    metrics = json.loads((repo / "metrics" / "pedirad_8k" / "dataset.json").read_text())
    assert metrics["processed"] == total and metrics["rejected"] == log["rejected"]


def test_planted_bad_files_are_rejected_with_reasons(repo):
    log = json.loads((repo / DATA / "processing_log.json").read_text())
    rejected = {e["stage"] for e in log["files"] if e["status"] == "rejected"}
    assert "normalize" in rejected  # truncated / no pixel data / not DICOM
    assert "stratify" in rejected  # the underexposed images fail the quality gate


def test_no_phi_in_any_output(repo):
    values = _phi_values(repo / RAW)
    assert set(PLANTED.values()) <= values and len(values) > 20
    outputs = [p for p in (repo / DATA).rglob("*") if p.is_file()] + list((repo / "metrics").rglob("*.json"))
    for p in outputs:
        blob = p.read_bytes()
        for v in values:
            assert v.encode() not in blob, f"PHI {v!r} found in {p.relative_to(repo)}"


def test_second_repro_does_nothing(repo):
    r = dvc(["repro", "leakage-check"], repo)
    assert "Running stage" not in r.stdout, r.stdout
    st = dvc(["status", "leakage-check"], repo)
    assert "changed" not in st.stdout


def test_two_runs_from_scratch_are_byte_identical(repo, tmp_path):
    other = make_repo(tmp_path / "again", {"dataset.synth.n": N})
    shutil.copytree(repo / RAW, other / RAW)
    dvc(["repro", "leakage-check"], other)
    assert tree_digest(other / DATA) == tree_digest(repo / DATA)
    assert tree_digest(other / "metrics") == tree_digest(repo / "metrics")


def test_presplit_folders_sharing_a_patient_fail_leakage_check(repo, tmp_path):
    other = make_repo(tmp_path / "leaky", {"dataset.synth.n": N, "dataset.stratify.mode": "keep"})
    raw = other / RAW
    files = sorted(p for p in (repo / RAW).glob("*.dcm"))
    by_patient: dict[str, list[Path]] = {}
    for f in files:
        try:
            by_patient.setdefault(str(pydicom.dcmread(f, stop_before_pixels=True).PatientID), []).append(f)
        except Exception:  # noqa: BLE001 - the planted bad files
            continue
    shared = next(fs for fs in by_patient.values() if len(fs) >= 2)
    for i, f in enumerate(files):
        split = "val" if f == shared[1] else ("test" if i % 10 == 9 else "train")
        (raw / split).mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, raw / split / f.name)
    r = dvc(["repro", "leakage-check"], other, check=False)
    assert r.returncode != 0
    records = json.loads((other / DATA / "interim" / "stratify.json").read_text())
    pseudonym = next(x["patient_id"] for x in records if x["source"] == f"val/{shared[1].name}")
    assert f"patient {pseudonym} appears in train and val" in r.stderr + r.stdout
    report = json.loads((other / DATA / "leakage_report.json").read_text())
    assert not report["passed"]
