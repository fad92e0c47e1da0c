"""radtune verify: data-stage hashes against the variant's pipeline.lock, metric tolerances,
gates (the margins over the baselines), in a throwaway git repository."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from radtune.errors import ConfigError
from radtune.gates import check_gates, parse_gate, tolerance_problems
from radtune.verify import data_state_problems, hash_changes, metric_violations, verify


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
    old = {"fracture_f1": 0.70, "fracture_accuracy": 0.70, "n_test": 58, "gone": 1.0, "ci95": [0.5, 0.8]}
    new = {"fracture_f1": 0.74, "fracture_accuracy": 0.71, "n_test": 59, "ci95": [0.5, 0.9]}
    problems = metric_violations("m/eval.json", old, new, tol)
    assert len(problems) == 4, problems
    assert not any("fracture_f1" in p for p in problems)
    assert any("fracture_accuracy" in p for p in problems) and any("ci95.1" in p for p in problems)
    assert any("gone" in p and "disappeared" in p for p in problems)


def test_data_state_appearing_is_fine_changing_or_differing_is_not():
    """#11 point 9: results committed before metrics named their data state verify against a
    rerun that names it; a changed state, or model metrics of another state than the
    dataset metrics, fail."""
    assert metric_violations("metrics/v/eval.json", {"acc": 0.5}, {"data_state": "abc", "acc": 0.5}, {}) == []
    assert metric_violations("metrics/v/eval.json", {"data_state": "abc"}, {"data_state": "abd"}, {})
    assert metric_violations("metrics/v/eval.json", {"data_state": "abc"}, {}, {})
    same = {"metrics/v/dataset.json": {"data_state": "abc"}, "metrics/v/eval.json": {"data_state": "abc"}}
    assert data_state_problems({**same, "metrics/v/old.json": {"acc": 1}}) == []
    (line,) = data_state_problems({**same, "metrics/v/eval_val.json": {"data_state": "fff"}})
    assert "metrics/v/eval_val.json: fff" in line and "metrics/v/dataset.json: abc" in line


@pytest.mark.parametrize(
    "text, values, holds",
    [
        ("a >= b + 0.25", {"a": 0.9, "b": 0.6}, True),
        ("a >= b + 0.25", {"a": 0.8, "b": 0.6}, False),
        ("mae <= 0.8 * chrono", {"mae": 7.9, "chrono": 10.0}, True),
        ("mae <= 0.8 * chrono", {"mae": 8.1, "chrono": 10.0}, False),
        ("n_test >= 120", {"n_test": 119}, False),
        ("a >= b - 0.1", {"a": 0.5, "b": 0.55}, True),
        ("a >= b", {"a": None, "b": 0.1}, False),
    ],
)
def test_gates(text, values, holds):
    assert parse_gate(text).holds(values) is holds


def test_a_broken_gate_is_named_and_a_bad_gate_refused():
    gates = {"m.json": [parse_gate("a >= b + 0.25")]}
    assert check_gates(gates, {"m.json": {"a": 0.9, "b": 0.6}}) == []
    (problem,) = check_gates(gates, {"m.json": {"a": 0.7, "b": 0.6}})
    assert "a >= b + 0.25 does not hold (a = 0.7" in problem
    with pytest.raises(ConfigError, match="gate"):
        parse_gate("a >= b ** 2")


def test_tolerances_must_be_smaller_than_the_margins_they_protect():
    gates = {"m.json": [parse_gate("mae <= 0.8 * chrono"), parse_gate("a >= b + 0.2")]}
    committed = {"m.json": {"mae": 5.0, "chrono": 10.0, "a": 0.9, "b": 0.5}}
    assert tolerance_problems(gates, committed, {"m.json:mae": 1.0, "m.json:a": 0.1}) == []
    problems = tolerance_problems(gates, committed, {"m.json:mae": 3.0, "m.json:*": 0.1})
    assert len(problems) == 2 and "mae <= 0.8 * chrono" in problems[0] and ">= the margin 2" in problems[0]


def _run(cmd, cwd):
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)


def test_verify_against_a_real_repository(tmp_path, monkeypatch):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t"}
    monkeypatch.setattr(os, "environ", {**env, "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})
    _run(["git", "init", "-q"], tmp_path)
    (tmp_path / "dvc.yaml").write_text(
        yaml.safe_dump({"stages": {"eval": {"cmd": "e", "metrics": [{"metrics/${dataset.variant}/eval.json": {}}]}}})
    )
    results = tmp_path / "metrics" / "v1"
    results.mkdir(parents=True)
    eval_json = results / "eval.json"
    eval_json.write_text(json.dumps({"fracture_accuracy": 0.9, "fracture_majority_accuracy": 0.6, "n_test": 130}))
    (results / "pipeline.lock").write_text(yaml.safe_dump(LOCK))
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(LOCK))
    (tmp_path / "tol.yaml").write_text(yaml.safe_dump({"tolerances": {"metrics/*/eval.json:fracture_accuracy": 0.05}}))
    gates = {"gates": {"v1": {"metrics/v1/eval.json": ["fracture_accuracy >= fracture_majority_accuracy + 0.25"]}}}
    (tmp_path / "gates.yaml").write_text(yaml.safe_dump(gates))
    _run(["git", "add", "-A"], tmp_path)
    _run(["git", "commit", "-qm", "results"], tmp_path)
    monkeypatch.chdir(tmp_path)

    def run() -> list[str]:
        return verify("v1", "HEAD", Path("tol.yaml"), Path("gates.yaml"))

    assert run() == []
    eval_json.write_text(json.dumps({"fracture_accuracy": 0.86, "fracture_majority_accuracy": 0.6, "n_test": 130}))
    assert run() == []  # within tolerance, gate still holds
    eval_json.write_text(json.dumps({"fracture_accuracy": 0.84, "fracture_majority_accuracy": 0.6, "n_test": 130}))
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(_changed("normalize", "outs", "x.dir")))
    problems = run()
    assert len(problems) == 3, problems
    assert problems[0].startswith("data-stage hash changed: normalize outs data/n")
    assert "eval.json:fracture_accuracy" in problems[1] and "tolerance 0.05" in problems[1]
    assert problems[2].startswith("gate metrics/v1/eval.json: fracture_accuracy >= fracture_majority_accuracy + 0.25")
    (tmp_path / "tol.yaml").write_text(yaml.safe_dump({"tolerances": {"metrics/*/eval.json:fracture_accuracy": 0.3}}))
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(LOCK))
    eval_json.write_text(json.dumps({"fracture_accuracy": 0.9, "fracture_majority_accuracy": 0.6, "n_test": 130}))
    (problem,) = run()
    assert "tolerances add up to 0.3 >= the margin 0.25" in problem
