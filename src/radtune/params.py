"""Parameters: `conf/` is the source (Hydra groups), `params.yaml` its committed composition.

Stage scripts call `load_params()`; it reads params.yaml (what DVC tracks, and what
`dvc exp run -S ...` rewrites) and validates it before any work is done, so a broken
config fails at once, naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from radtune import variants
from radtune.errors import ConfigError
from radtune.variants.base import Rules

PARAMS_FILE = Path("params.yaml")
CONF_DIR = Path("conf")


def compose(overrides: list[str] | None = None, conf_dir: Path = CONF_DIR) -> DictConfig:
    """Compose conf/ with Hydra exactly as DVC's Hydra integration does."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(Path(conf_dir).resolve()), version_base=None):
        cfg = hydra_compose(config_name="config", overrides=overrides or [])
    OmegaConf.resolve(cfg)
    return cfg


def to_yaml(cfg: DictConfig) -> str:
    """The text DVC writes to params.yaml for a composed config."""
    return OmegaConf.to_yaml(cfg)


def load_params(path: Path = PARAMS_FILE) -> DictConfig:
    if not Path(path).exists():
        raise ConfigError(f"{path} not found: run from the repository root (or `make params`)")
    cfg = OmegaConf.load(path)
    validate(cfg)
    return cfg


def get(cfg: DictConfig, key: str) -> Any:
    """The value at dotted `key`, or ConfigError naming the key."""
    value = OmegaConf.select(cfg, key, throw_on_missing=False, default=_MISSING)
    if value is _MISSING:
        raise ConfigError(f"params: missing key '{key}'")
    return value


_MISSING = object()

LAYOUT_SLOTS = ("fetched", "normalized", "annotated", "split", "split_report", "check_report")

# key -> (accepted types, check, what it must be); common to every dataset variant (a
# variant adds its own: `radtune.variants.<name>` param_rules)
_COMMON: Rules = {
    "seed": ((int,), lambda v: v >= 0, "an integer >= 0"),
    "jobs": ((int,), lambda v: v >= 1, "an integer >= 1"),
    "dataset.name": ((str,), bool, "a non-empty name"),
    "dataset.raw_dir": ((str,), bool, "a path"),
    "dataset.data_dir": ((str,), bool, "a path"),
    "dataset.model_dir": ((str,), bool, "a path"),
    **{f"dataset.layout.{k}": ((str,), bool, "a path relative to dataset.data_dir") for k in LAYOUT_SLOTS},
    "dataset.augment.multiplier": ((int,), lambda v: v >= 1, "an integer >= 1"),
}


_NUM, _FRACTION = (int, float), (lambda v: 0 <= v <= 1, "a number in [0, 1]")
# the fine-tuning groups: checked when present (the data-only tests compose without them)
_GROUPS: dict[str, Rules] = {
    "model": {
        "model.build": ((str,), lambda v: v in ("tiny", "hub"), "tiny or hub"),
        "model.dtype": (
            (str,),
            lambda v: v in ("float32", "bfloat16"),
            "float32 or bfloat16 (Gemma 3 overflows in float16: NaN logits, empty answers)",
        ),
        "model.max_new_tokens": ((int,), lambda v: v >= 1, "an integer >= 1"),
    },
    "train": {
        "train.quantization": ((str,), lambda v: v in ("none", "4bit"), "none or 4bit"),
        "train.lora.r": ((int,), lambda v: v >= 1, "an integer >= 1"),
        "train.lora.alpha": (_NUM, lambda v: v > 0, "a number > 0"),
        "train.lora.dropout": (_NUM, *_FRACTION),
        "train.epochs": (_NUM, lambda v: v > 0, "a number > 0"),
        "train.max_steps": ((int,), lambda v: v == -1 or v >= 1, "-1 (use epochs) or an integer >= 1"),
        "train.batch_size": ((int,), lambda v: v >= 1, "an integer >= 1"),
        "train.grad_accum": ((int,), lambda v: v >= 1, "an integer >= 1"),
        "train.learning_rate": (_NUM, lambda v: v > 0, "a number > 0"),
        "train.warmup_ratio": (_NUM, lambda v: 0 <= v < 1, "a number in [0, 1)"),
        "train.num_threads": ((int,), lambda v: v >= 1, "an integer >= 1"),
        "train.logging_steps": ((int,), lambda v: v >= 1, "an integer >= 1"),
        "train.eval_steps": ((int,), lambda v: v >= 1, "an integer >= 1"),
        "train.save_steps": ((int,), lambda v: v >= 1, "an integer >= 1"),
        "train.hflip": (_NUM, *_FRACTION),
    },
}


def _check(cfg: DictConfig, rules: Rules) -> None:
    for key, (types, check, what) in rules.items():
        value = get(cfg, key)
        if isinstance(value, bool) or not isinstance(value, types) or not check(value):
            raise ConfigError(f"params: '{key}' must be {what}, got {value!r}")


def _check_combinations(cfg: DictConfig) -> None:
    """Settings that are each valid but make no sense together."""
    if "model" in cfg and "train" in cfg and get(cfg, "model.build") == "hub":
        warmup = OmegaConf.select(cfg, "train.vision_warmup.epochs", default=0) or 0
        if warmup > 0:
            raise ConfigError(
                f"params: 'train.vision_warmup.epochs' is {warmup}, but model.build=hub has a pretrained vision "
                "encoder: the warm-up (for a from-scratch tower) would overwrite it; set 0"
            )


def validate(cfg: DictConfig) -> None:
    """Every key the stages read, checked before any work; the error names the key."""
    variant = get(cfg, "dataset.variant")
    if not isinstance(variant, str):
        raise ConfigError(f"params: 'dataset.variant' must be a variant name, got {variant!r}")
    _check(cfg, _COMMON)
    _check(cfg, variants.get(variant).param_rules())
    for group, rules in _GROUPS.items():
        if group in cfg:
            _check(cfg, rules)
    _check_combinations(cfg)
    final = get(cfg, "dataset.layout.final")
    if not (OmegaConf.is_list(final) and len(final) == 3 and all(isinstance(x, str) and x for x in final)):
        raise ConfigError(f"params: 'dataset.layout.final' must be a list of 3 paths, got {final!r}")
    ratios = get(cfg, "dataset.stratify.ratios")
    names = list(ratios.keys()) if isinstance(ratios, DictConfig) else []
    if sorted(names) != ["test", "train", "val"]:
        raise ConfigError("params: 'dataset.stratify.ratios' must have keys train, val, test")
    values = [ratios[k] for k in names]
    if any(not isinstance(v, (int, float)) or v < 0 for v in values) or abs(sum(values) - 1) > 1e-6:
        raise ConfigError(f"params: 'dataset.stratify.ratios' must be >= 0 and sum to 1, got {dict(ratios)}")
