"""conf/ is the source, params.yaml its committed composition; broken configs fail early."""

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from radtune.errors import ConfigError
from radtune.params import compose, load_params, to_yaml, validate

ROOT = Path(__file__).resolve().parents[1]


def test_params_yaml_is_the_composition_of_conf():
    assert (ROOT / "params.yaml").read_text() == to_yaml(compose(conf_dir=ROOT / "conf")), (
        "params.yaml is stale: run `make params` and commit it"
    )


def test_every_dataset_variant_composes_and_validates():
    for f in sorted((ROOT / "conf" / "dataset").glob("*.yaml")):
        validate(compose([f"dataset={f.stem}"], conf_dir=ROOT / "conf"))


def test_every_experiment_preset_composes_for_its_variant():
    """conf/experiment/<variant>.yaml: the settings behind metrics/<variant>/ (CI uses them)."""
    for f in sorted((ROOT / "conf" / "experiment").glob("*.yaml")):
        cfg = compose([f"+experiment={f.stem}"], conf_dir=ROOT / "conf")
        validate(cfg)
        assert cfg.dataset.variant == f.stem


@pytest.mark.parametrize(
    "key, value, needle",
    [
        ("dataset.stratify.quality_threshold", 1.5, "dataset.stratify.quality_threshold"),
        ("dataset.stratify.mode", "random", "dataset.stratify.mode"),
        ("dataset.normalize.size", "big", "dataset.normalize.size"),
        ("dataset.augment.multiplier", 0, "dataset.augment.multiplier"),
        ("dataset.stratify.ratios", {"train": 0.9, "val": 0.2, "test": 0.1}, "sum to 1"),
        ("train.lora.r", 0, "train.lora.r"),
        ("train.quantization", "8bit", "train.quantization"),
        ("train.learning_rate", "fast", "train.learning_rate"),
        ("model.build", "download", "model.build"),
        ("executor", "spark", "executor"),
        ("dask_scheduler", "my-cluster", "dask_scheduler"),
        ("executor", "dask", "dask_scheduler"),  # dask without the scheduler's address
    ],
)
def test_broken_config_names_the_key(key, value, needle):
    cfg = compose(conf_dir=ROOT / "conf")
    OmegaConf.update(cfg, key, value, merge=False)
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        validate(cfg)


def test_dask_executor_with_an_address_validates():
    validate(compose(["executor=dask", "dask_scheduler=tcp://10.0.0.5:8786"], conf_dir=ROOT / "conf"))


def test_missing_key_is_named(tmp_path):
    cfg = OmegaConf.to_container(compose(conf_dir=ROOT / "conf"))
    del cfg["dataset"]["leakage"]
    (tmp_path / "params.yaml").write_text(OmegaConf.to_yaml(cfg))
    with pytest.raises(ConfigError, match="dataset.leakage.phash_max_distance"):
        load_params(tmp_path / "params.yaml")


def test_stage_fails_before_work_on_broken_params(tmp_path):
    cfg = OmegaConf.to_container(compose(conf_dir=ROOT / "conf"))
    cfg["dataset"]["normalize"]["jpeg_quality"] = 500
    (tmp_path / "params.yaml").write_text(OmegaConf.to_yaml(cfg))
    r = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "stratify.py"), "--annotated", "x", "--out", "y", "--report", "z"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "dataset.normalize.jpeg_quality" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "y").exists()
