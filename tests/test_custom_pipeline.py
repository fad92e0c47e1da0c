"""pedirad_custom's data stages and export, run for real with `dvc repro` on a small
synthetic set: every input and every annotation record accounted for, the planted bad
records rejected naming file and field, colour kept for the fundus photographs, provided
splits honoured across tasks, no PHI in any output, a cross-task leak caught."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline_repo import dvc, make_repo
from radtune.imaging import read_image
from radtune.pseudonym import pseudonym
from radtune.synth import generate
from test_pipeline_data import _phi_values

pytestmark = pytest.mark.slow  # one dvc repro (`make test` keeps a module on one worker)

N = 60
DATA = Path("data/pedirad-custom")
RAW = Path("data/raw/pedirad-custom")
SPLITS = ("train", "val", "test")
TASKS = ("bone_age", "rop_screening", "fractures")
DEMO_KEY = "radtune-public-demo-key"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    root = make_repo(
        tmp_path_factory.mktemp("custom") / "repo", {"dataset.synth.n": N}, overrides=["dataset=pedirad_custom"]
    )
    summary = generate("pedirad_custom", root / RAW, n=N, seed=0)
    r = dvc(["repro", "export-jsonl"], root)
    return {"repo": root, "summary": summary, "log": r.stdout + r.stderr}


def _published(d: Path) -> list[dict]:
    return [
        r
        for t in TASKS
        for s in SPLITS
        for r in json.loads((d / "annotations" / t / f"{s}_annotations.json").read_text())
    ]


def test_every_input_and_record_is_accounted_for(run: dict) -> None:
    repo, d = run["repo"], run["repo"] / DATA
    log = json.loads((d / "processing_log.json").read_text())
    annotation_files = {a for a in run["summary"]["annotations"]}
    inputs = [
        p
        for p in (repo / RAW).rglob("*")
        if p.is_file() and p.relative_to(repo / RAW).as_posix() not in annotation_files
    ]
    assert log["inputs"] == len(inputs) == len(log["files"])
    assert log["processed"] + log["rejected"] == log["inputs"]
    assert all(e["reason"] for e in log["files"] if e["status"] == "rejected")
    assert len(_published(d)) == log["processed"]
    records = log["annotation_records"]
    assert records["records"] == records["valid"] + records["rejected"]
    assert records["rejected"] == len(records["rejections"]) >= 4


@pytest.mark.parametrize(
    ("field", "shown"),
    [("zone", "'IV'"), ("stage", "7"), ("bone_age_months", "-4"), ("image_path", "not found")],
)
def test_planted_bad_records_are_rejected_naming_file_and_field(run: dict, field: str, shown: str) -> None:
    lines = [line for line in run["log"].splitlines() if "annotate: rejected:" in line and f": {field}:" in line]
    assert len(lines) == 1, lines
    assert "_annotations.json[" in lines[0] or "annotations.json[" in lines[0]
    assert shown in lines[0]


def test_fundus_photographs_stay_colour_and_radiographs_grey(run: dict) -> None:
    d = run["repo"] / DATA
    for r in _published(d):
        image = read_image(d / r["image_path"])
        if r["task"] == "rop_screening":
            assert image.ndim == 3 and image.shape[2] == 3
            # real colour: red and blue differ on the retina
            assert float(np.abs(image[..., 0].astype(int) - image[..., 2].astype(int)).mean()) > 20
        else:
            assert image.ndim == 2


def test_provided_splits_are_kept_and_patients_stay_in_one_split(run: dict) -> None:
    d = run["repo"] / DATA
    published = _published(d)
    for r in published:
        if r["task"] == "bone_age":
            assert r["provided_split"] == r["split"]
    splits_of: dict[str, set[str]] = {}
    tasks_of: dict[str, set[str]] = {}
    for r in published:
        splits_of.setdefault(r["patient_id"], set()).add(r["split"])
        tasks_of.setdefault(r["patient_id"], set()).add(r["task"])
    assert all(len(s) == 1 for s in splits_of.values())
    assert any(len(t) > 1 for t in tasks_of.values())  # children in two tasks, kept together
    assert json.loads((d / "leakage_report.json").read_text())["passed"]


def test_export_has_every_task_with_its_target_and_a_balanced_train_mix(run: dict) -> None:
    d = run["repo"] / DATA
    rows = {s: [json.loads(x) for x in (d / "jsonl" / f"{s}.jsonl").read_text().splitlines()] for s in SPLITS}
    keys = {"bone_age": ["bone_age_months"], "rop_screening": ["zone", "stage", "plus_disease"]}
    keys["fractures"] = ["fracture", "fracture_type", "location"]
    for s, part in rows.items():
        for r in part:
            assert list(json.loads(r["target"])) == keys[r["task"]]
        per_task = {t: (d / "jsonl" / t / f"{s}.jsonl").read_text().splitlines() for t in TASKS}
        assert sum(len(v) for v in per_task.values()) == sum(not r.get("repeat_of") for r in part)
    counts = {t: sum(r["task"] == t for r in rows["train"]) for t in TASKS}
    assert len(set(counts.values())) == 1, counts


def test_no_phi_in_any_output(run: dict) -> None:
    repo = run["repo"]
    values = _phi_values(repo / RAW)
    for ann in (repo / RAW).rglob("*annotations.json"):
        values |= {str(r["patient_id"]) for r in json.loads(ann.read_text()) if r.get("patient_id")}
    assert len(values) > 20
    outputs = [p for p in (repo / DATA).rglob("*") if p.is_file()] + list((repo / "metrics").rglob("*.json"))
    for p in outputs:
        blob = p.read_bytes()
        for v in values:  # whole words: the prompts' "Clinical context" is not the institution "... Clinic"
            assert not re.search(rb"\b" + re.escape(v.encode()) + rb"\b", blob), (
                f"PHI {v!r} found in {p.relative_to(repo)}"
            )


def test_second_repro_does_nothing(run: dict) -> None:
    r = dvc(["repro", "export-jsonl"], run["repo"])
    assert "Running stage" not in r.stdout, r.stdout


def test_a_child_in_two_tasks_across_train_and_test_fails_leakage_check(run: dict, tmp_path: Path) -> None:
    """A bone-age train child whose fracture study is listed as test."""
    other = make_repo(tmp_path / "leaky", {"dataset.synth.n": N}, overrides=["dataset=pedirad_custom"])
    raw = other / RAW
    shutil.copytree(run["repo"] / RAW, raw)
    child = json.loads((raw / "bone_age" / "train_annotations.json").read_text())[0]["patient_id"]
    fractures = json.loads((raw / "fractures" / "annotations.json").read_text())
    moved = next(r for r in fractures if r["patient_id"] != child and (raw / "fractures" / r["image_path"]).exists())
    fractures.remove(moved)
    (raw / "fractures" / "annotations.json").write_text(json.dumps(fractures))
    (raw / "fractures" / "test_annotations.json").write_text(json.dumps([{**moved, "patient_id": child}]))
    r = dvc(["repro", "leakage-check"], other, check=False)
    assert r.returncode != 0
    assert pseudonym(f"id:{child}", DEMO_KEY) in r.stdout + r.stderr
