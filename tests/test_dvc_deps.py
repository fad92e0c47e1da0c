"""dvc.yaml deps cover every source file a stage can run, for every dataset variant: a stale
dep would let a user's code change silently reuse an old cached output."""

from __future__ import annotations

import re

import pytest
import yaml
from omegaconf import OmegaConf

from deps_closure import ROOT, closure, uncovered
from radtune import variants
from radtune.params import compose

CONFS = sorted(p.stem for p in (ROOT / "conf" / "dataset").glob("*.yaml"))


def stage_deps(dvc_yaml: dict, params) -> dict[str, list[str]]:
    """stage -> its deps with ${...} resolved from params."""

    def resolve(text: str) -> str:
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(OmegaConf.select(params, m.group(1))), text)

    return {name: [resolve(d) for d in stage.get("deps", [])] for name, stage in dvc_yaml["stages"].items()}


def script_of(stage: dict) -> str:
    return re.search(r"python (stages/\S+\.py)", stage["cmd"])[1]


def gaps(dvc_yaml: dict, variant_conf: str) -> list[str]:
    """One line per (stage, file it can run that its deps miss)."""
    params = compose([f"dataset={variant_conf}"], conf_dir=ROOT / "conf")
    deps = stage_deps(dvc_yaml, params)
    out = []
    for name, stage in dvc_yaml["stages"].items():
        files = closure(ROOT / script_of(stage), params.dataset.variant)
        out += [f"{name}: {f} is not covered by its deps" for f in uncovered(files, deps[name])]
    return out


@pytest.mark.parametrize("conf", CONFS)
def test_every_stage_depends_on_what_it_runs(conf: str) -> None:
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    assert gaps(dvc_yaml, conf) == []


def test_a_missing_dep_is_named() -> None:
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    dvc_yaml["stages"]["normalize"]["deps"].remove("src/radtune/render.py")
    dvc_yaml["stages"]["eval"]["deps"].remove("src/radtune/variants/${dataset.variant}")
    problems = gaps(dvc_yaml, "ct_v4")
    assert "normalize: src/radtune/render.py is not covered by its deps" in problems
    assert "eval: src/radtune/variants/ct_v4/scoring.py is not covered by its deps" in problems


def test_function_level_imports_count() -> None:
    files = {f.relative_to(ROOT).as_posix() for f in closure(ROOT / "stages/eval.py", "pedirad_8k")}
    assert "src/radtune/variants/pedirad_8k/scoring.py" in files  # imported inside Variant.score
    assert "src/radtune/variants/pedirad_8k/stages.py" not in files  # eval never runs a data stage


@pytest.mark.parametrize("conf", CONFS)
def test_each_conf_names_its_own_package(conf: str) -> None:
    params = compose([f"dataset={conf}"], conf_dir=ROOT / "conf")
    assert params.dataset.variant == conf
    assert variants.get(conf).name == conf


def test_each_package_has_a_conf() -> None:
    assert variants.names() == CONFS
