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

from pipeline_repo import ROOT, dvc, make_repo, run
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
@pytest.mark.xdist_group(__name__)
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
