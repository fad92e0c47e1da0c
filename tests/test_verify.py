"""radtune verify: data-stage hash comparison and metric tolerances, incl. a real
`dvc metrics diff` in a throwaway git + DVC repository."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from radtune.verify import hash_changes, metric_violations, verify


def _entry(path: str, md5: str) -> dict:
    return {"path": path, "hash": "md5", "md5": md5, "size": 1, "nfiles": 1}


LOCK = {
    "schema": "2.0",
    "stages": {
        "normalize": {"cmd": "n", "deps": [_entry("data/raw", "a.dir")], "outs": [_entry("data/n", "b.dir")]},
        "train": {"cmd": "t", "deps": [_entry("data/n", "b.dir")], "outs": [_entry("models/lora", "c.dir")]},
    },
}


def _changed(stage: str, kind: str, md5: str) -> dict:
    lock = json.loads(json.dumps(LOCK))
    lock["stages"][stage][kind][0]["md5"] = md5
    return lock


def test_data_stage_hash_change_is_reported_model_stage_change_is_not():
    assert hash_changes(LOCK, LOCK) == []
    assert hash_changes(LOCK, _changed("train", "outs", "other.dir")) == []
    problems = hash_changes(LOCK, _changed("normalize", "outs", "other.dir"))
    assert problems == ["data-stage hash changed: normalize outs data/n: b.dir -> other.dir"]
    gone = json.loads(json.dumps(LOCK))
    del gone["stages"]["normalize"]
    assert any("missing after the rerun: normalize outs data/n" in p for p in hash_changes(LOCK, gone))


def test_metric_tolerances_first_match_wins_and_unmatched_must_be_exact():
    tol = {"m/eval.json:fracture_accuracy": 0.0, "m/eval.json:fracture_*": 0.05}
    diff = {
        "m/eval.json": {
            "fracture_f1": {"old": 0.70, "new": 0.74, "diff": 0.04},
            "fracture_accuracy": {"old": 0.70, "new": 0.71, "diff": 0.01},
            "n_test": {"old": 58, "new": 59, "diff": 1},
            "gone": {"old": 1.0, "new": None},
        },
        "m/train.json": {"val": {"loss": {"old": 0.3, "new": 0.5, "diff": 0.2}}},
    }
    problems = metric_violations(diff, tol)
    assert len(problems) == 4
    assert not any("fracture_f1" in p for p in problems)
    assert any("fracture_accuracy" in p for p in problems)
    assert any("m/train.json:val.loss" in p for p in problems)
    assert any("gone" in p and "disappeared" in p for p in problems)


def _run(cmd, cwd):
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)


def test_verify_against_a_real_repository(tmp_path, monkeypatch):
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    monkeypatch.setattr(os, "environ", env)
    _run(["git", "init", "-q"], tmp_path)
    _run([sys.executable, "-m", "dvc", "init", "-q"], tmp_path)
    (tmp_path / "dvc.yaml").write_text("metrics:\n  - eval.json\n")
    (tmp_path / "eval.json").write_text(json.dumps({"fracture_f1": 0.7, "n_test": 58}))
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(LOCK))
    (tmp_path / "tol.yaml").write_text(yaml.safe_dump({"tolerances": {"eval.json:fracture_*": 0.05}}))
    _run(["git", "add", "-A"], tmp_path)
    _run(["git", "commit", "-qm", "results"], tmp_path)
    monkeypatch.chdir(tmp_path)
    assert verify("HEAD", Path("tol.yaml")) == []
    (tmp_path / "eval.json").write_text(json.dumps({"fracture_f1": 0.73, "n_test": 58}))
    assert verify("HEAD", Path("tol.yaml")) == []  # within tolerance
    (tmp_path / "eval.json").write_text(json.dumps({"fracture_f1": 0.6, "n_test": 58}))
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(_changed("normalize", "outs", "x.dir")))
    problems = verify("HEAD", Path("tol.yaml"))
    assert len(problems) == 2, problems
    assert problems[0].startswith("data-stage hash changed: normalize outs data/n")
    assert "eval.json:fracture_f1" in problems[1]
