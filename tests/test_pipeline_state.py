"""What DVC restores and shows across experiments (#11 points 3 and 9): every output of a
stage comes back with `dvc exp apply`, and `dvc exp show` never puts model metrics next to
data they were not computed on."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from pipeline_repo import ROOT, dvc, make_repo, run, stage_argv
from radtune.params import compose
from radtune.synth import generate

N = 40
DATA = Path("data/pedirad-8k")
RAW = Path("data/raw/pedirad-8k")


def _published(repo: Path) -> tuple[dict, int]:
    """(processing log, number of original images in processed/ and the annotations)."""
    d = repo / DATA
    log = json.loads((d / "processing_log.json").read_text())
    anns = [
        r for s in ("train", "val", "test") for r in json.loads((d / f"annotations/{s}_annotations.json").read_text())
    ]
    originals = [r for r in anns if not r.get("augmented_from")]
    files = [p for p in (d / "processed").rglob("*.jpg")]
    assert len(files) == len(anns)
    return log, len(originals)


def _apply(repo: Path, exp: str) -> None:
    """`dvc exp apply`; it reports the outputs of stages the experiment never ran (train, ...)
    as missing, and must restore everything else."""
    r = dvc(["exp", "apply", exp], repo, check=False)
    missing = [line.strip() for line in r.stderr.splitlines() if line.strip().startswith(("data/", "models/"))]
    assert all(
        m.startswith(("models/", str(DATA / "jsonl"), str(DATA / "dataset_registry"))) or "leakage" in m
        for m in missing
    ), r.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = make_repo(tmp_path_factory.mktemp("state") / "repo", {"dataset.synth.n": N})
    generate("pedirad_8k", root / RAW, n=N, seed=0)
    run(["git", "add", "-A"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "baseline"], root)
    return root


def _uncached_outs(variant: str) -> list[str]:
    """Every `cache: false` output in dvc.yaml (outs, metrics, plots), resolved for `variant`."""
    params = compose([f"dataset={variant}"], conf_dir=ROOT / "conf")
    found = []
    for stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].values():
        for kind in ("outs", "metrics", "plots"):
            for out in stage.get(kind) or []:
                if isinstance(out, dict):
                    ((path, opts),) = out.items()
                    if (opts or {}).get("cache", True) is False:
                        found.append(
                            re.sub(r"\$\{([^}]+)\}", lambda m: str(OmegaConf.select(params, m.group(1))), path)
                        )
    return found


@pytest.mark.parametrize("variant", ["pedirad_8k", "ct_v4"])
def test_every_uncached_output_is_tracked_by_git(variant):
    """DVC restores only what it caches; an output with `cache: false` comes back with
    `git checkout` / `dvc exp apply` only when git tracks it (not ignored)."""
    outs = _uncached_outs(variant)
    assert any("processing_log" in o or "4class" in o for o in outs)
    ignored = [o for o in outs if subprocess.run(["git", "check-ignore", "-q", o], cwd=ROOT).returncode == 0]
    assert not ignored, f"cache: false outputs ignored by git (stale after dvc checkout / exp apply): {ignored}"


@pytest.mark.slow
def test_exp_apply_restores_the_processing_log_with_its_images(repo):
    dvc(["exp", "run", "-q", "-n", "lenient", "-S", "dataset.stratify.quality_threshold=0.0", "augment"], repo)
    lenient, n_lenient = _published(repo)
    assert lenient["processed"] == n_lenient > 0
    dvc(["exp", "run", "-q", "-n", "strict", "-S", "dataset.stratify.quality_threshold=0.95", "augment"], repo)
    strict, n_strict = _published(repo)
    assert strict["processed"] == n_strict < n_lenient  # the two experiments publish different sets
    _apply(repo, "lenient")
    log, n = _published(repo)
    assert n == n_lenient
    assert log == lenient, f"processing_log.json is stale: says {log['processed']} processed beside {n} images"
    _apply(repo, "strict")
    log, n = _published(repo)
    assert (n, log) == (n_strict, strict)


def test_augment_removes_every_model_result():
    """augment's --model-results (removed when of another data state) are exactly the
    uncached outputs of train and eval: none can survive beside other data."""
    params = compose(["dataset=pedirad_8k"], conf_dir=ROOT / "conf")
    argv = stage_argv("augment", params)
    listed = argv[argv.index("--model-results") + 1 :]
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    expected = set()
    for s in ("train", "eval"):
        for kind in ("outs", "metrics", "plots"):
            for out in stages[s].get(kind) or []:
                path = next(iter(out)) if isinstance(out, dict) else out
                if path.startswith("metrics/"):
                    expected.add(path.replace("${dataset.variant}", "pedirad_8k"))
    assert expected and set(listed) == expected, set(listed) ^ expected
    assert set(listed) <= set(_uncached_outs("pedirad_8k"))


def test_drop_results_of_other_data(tmp_path):
    from radtune.datastate import data_state, drop_results_of_other_data

    (tmp_path / "d/images").mkdir(parents=True)
    (tmp_path / "d/images/a.jpg").write_bytes(b"a")
    (tmp_path / "d/ann.json").write_text("[]")
    state = data_state(tmp_path / "d", [tmp_path / "d/images", tmp_path / "d/ann.json"])
    (tmp_path / "d/images/a.jpg").write_bytes(b"b")
    assert data_state(tmp_path / "d", [tmp_path / "d/images", tmp_path / "d/ann.json"]) != state
    results = [tmp_path / "eval.json", tmp_path / "figs", tmp_path / "pred.jsonl", tmp_path / "absent.png"]
    results[0].write_text(json.dumps({"data_state": state, "acc": 1}))
    results[1].mkdir()
    (results[1] / "x.png").write_bytes(b"png")
    results[2].write_text("{}\n")
    assert drop_results_of_other_data(results, state) == []  # same data: kept
    assert drop_results_of_other_data(results, "0" * 12) == results[:3]
    assert not any(p.exists() for p in results)
    results[0].write_text(json.dumps({"acc": 1}))  # before data states existed: kept
    assert drop_results_of_other_data(results, state) == [] and results[0].exists()


def _exp_show(repo: Path) -> dict[str, dict[str, dict]]:
    """`dvc exp show --json` as {experiment or branch name: {metrics file: its values}}."""
    shown: dict[str, dict[str, dict]] = {}

    def add(entry: dict) -> None:
        metrics = (entry.get("data") or {}).get("metrics") or {}
        shown[entry.get("name") or entry["rev"]] = {f: m["data"] for f, m in metrics.items() if m.get("data")}

    for baseline in json.loads(dvc(["exp", "show", "--json"], repo).stdout):
        add(baseline)
        for exp in baseline.get("experiments") or []:
            for rev in exp["revs"]:
                add(rev)
    return shown


MODEL_METRICS = ("train/metrics.json", "eval.json", "eval_val.json")


@pytest.mark.slow
def test_exp_show_never_puts_model_metrics_beside_other_data(tmp_path):
    """#11 point 9: after a data-only experiment (`dvc exp run augment`: train and eval do not
    run), `dvc exp show` must not show the model metrics of the old data next to the new data."""
    repo = make_repo(tmp_path / "repo", {"dataset.synth.n": N})
    generate("pedirad_8k", repo / RAW, n=N, seed=0)
    dvc(["repro", "augment"], repo)
    m = repo / "metrics/pedirad_8k"
    state = json.loads((m / "dataset.json").read_text())["data_state"]
    assert len(state) == 12
    # the model results of a finished run on this data (train and eval stand-ins)
    (m / "train/plots/metrics/train").mkdir(parents=True)
    (m / "train/plots/metrics/train/loss.tsv").write_text("step\tloss\n0\t1.0\n")
    for name, values in zip(MODEL_METRICS, ({"step": 3, "train": {"loss": 0.5}}, {"fracture_accuracy": 0.7}, {})):
        (m / name).write_text(json.dumps({"data_state": state, **values}))
    (m / "training_curves.png").write_bytes(b"png")
    (m / "eval_predictions.jsonl").write_text("{}\n")
    (m / "eval_figures").mkdir()
    (m / "eval_figures/scores.png").write_bytes(b"png")
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "baseline"], repo)

    # the same published data (only the split-warning threshold changes): the model results stay
    dvc(["exp", "run", "-n", "same-data", "-S", "dataset.stratify.min_split_images=5", "augment"], repo)
    # other data (the quality gate lets the underexposed images in)
    dvc(["exp", "run", "-n", "new-data", "-S", "dataset.stratify.quality_threshold=0.0", "augment"], repo)
    shown = _exp_show(repo)
    assert {"same-data", "new-data"} <= shown.keys()
    for name, metrics in shown.items():
        data = metrics["metrics/pedirad_8k/dataset.json"]["data_state"]
        for file, values in metrics.items():
            assert values.get("data_state", data) == data, f"{name}: {file} describes other data"
    assert shown["same-data"]["metrics/pedirad_8k/dataset.json"]["data_state"] == state
    assert shown["same-data"]["metrics/pedirad_8k/eval.json"]["fracture_accuracy"] == 0.7
    new = shown["new-data"]
    assert new["metrics/pedirad_8k/dataset.json"]["data_state"] != state
    assert not any(f"metrics/pedirad_8k/{name}" in new for name in MODEL_METRICS), new.keys()
    # and the workspace (the last experiment applied) holds no model result of the old data
    assert not [p for p in m.rglob("*") if p.is_file() and not p.name.startswith("dataset")]
