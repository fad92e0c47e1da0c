"""Parameters: `conf/` is the source (Hydra groups), `params.yaml` its committed composition.

Stage scripts call `load_params()`; it reads params.yaml (what DVC tracks, and what
`dvc exp run -S ...` rewrites) and validates it before any work is done, so a broken
config fails at once, naming the key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from radtune import variants
from radtune.errors import ConfigError
from radtune.variants.base import Rules
from radtune.windows import WINDOW_CHOICES_SHORT, check_percentiles, is_window

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
    "executor": ((str,), lambda v: v in ("local", "dask"), "local or dask (radtune.executor)"),
    "dask_scheduler": (
        (str, type(None)),
        lambda v: v is None or re.fullmatch(r"[a-z]+://\S+", v) is not None,
        "null or a Dask scheduler address such as tcp://host:8786",
    ),
    "dataset.name": ((str,), bool, "a non-empty name"),
    "dataset.raw_dir": ((str,), bool, "a path"),
    "dataset.data_dir": ((str,), bool, "a path"),
    "dataset.model_dir": ((str,), bool, "a path"),
    **{f"dataset.layout.{k}": ((str,), bool, "a path relative to dataset.data_dir") for k in LAYOUT_SLOTS},
    "dataset.augment.multiplier": ((int,), lambda v: v >= 1, "an integer >= 1"),
    "dataset.augment.rotate_limit": ((int, float), lambda v: 0 <= v <= 180, "degrees in [0, 180]"),
    "dataset.augment.scale_limit": ((int, float), lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "dataset.augment.brightness_contrast_limit": ((int, float), lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "dataset.augment.horizontal_flip": ((int, float), lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
    "dataset.pseudonym.key_env": ((str,), bool, "the name of an environment variable"),
    "dataset.pseudonym.demo_key": ((str,), bool, "a non-empty key (used when key_env is unset)"),
}


_NUM, _FRACTION = (int, float), (lambda v: 0 <= v <= 1, "a number in [0, 1]")
_BOOL, _NONE, _LIST = (bool,), type(None), (list, ListConfig)
_POS_INT = ((int,), lambda v: v >= 1, "an integer >= 1")

#: `dataset.*` keys the pediatric variants (pedirad_8k, pedirad_custom) read the same way
IMAGE_RULES: Rules = {
    "dataset.fetch": ((DictConfig,), lambda v: len(v) == 0, "{} (the inputs are local: nothing to download)"),
    "dataset.normalize.size": ((int,), lambda v: v >= 0, "an integer >= 0 (0 keeps native size)"),
    "dataset.normalize.window": ((str,), is_window, WINDOW_CHOICES_SHORT),
    "dataset.normalize.jpeg_quality": ((int,), lambda v: 1 <= v <= 100, "an integer in 1..100"),
    # the auto window's bounds: render's own check (raises naming what is wrong)
    "dataset.normalize.auto_percentiles": (_LIST, lambda v: bool(check_percentiles(v)), "[low, high] percent"),
    "dataset.stratify.quality_threshold": ((int, float), lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "dataset.leakage.phash_max_distance": ((int,), lambda v: 0 <= v <= 64, "an integer in 0..64"),
    "dataset.leakage.near_duplicate_min_correlation": ((int, float), lambda v: -1 <= v <= 1, "a number in [-1, 1]"),
}
_NONNEG = (_NUM, lambda v: v >= 0, "a number >= 0")
_ANY_BOOL = (_BOOL, lambda v: True, "true or false")
_NAME = ((str,), bool, "a non-empty name")
_ATTN = ((str, _NONE), lambda v: v in (None, "sdpa", "eager", "flash_attention_2"), "sdpa, eager or flash_attention_2")


def _modules(v: Any) -> bool:
    """train.lora.target_modules / modules_to_save: a name ("all-linear") or a list of names."""
    return (
        isinstance(v, str)
        and bool(v)
        or (OmegaConf.is_list(v) or isinstance(v, list))
        and all(isinstance(x, str) and x for x in v)
    )


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
        "model.name": _NAME,
        "model.id": ((str, _NONE), lambda v: v is None or bool(v), "null or a Hugging Face model id"),
        "model.attn_implementation": _ATTN,
        "model.vision_attn_implementation": _ATTN,
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
        "train.name": _NAME,
        "train.lora.target_modules": ((str, *_LIST), _modules, "all-linear or a list of module names"),
        "train.lora.exclude_modules": ((str, _NONE), lambda v: v is None or bool(v), "null or a module regex"),
        "train.lora.modules_to_save": ((_NONE, *_LIST), lambda v: v is None or _modules(v) or not v, "a list"),
        "train.eval_batch_size": _POS_INT,
        "train.max_val_examples": ((int, _NONE), lambda v: v is None or v >= 1, "null or an integer >= 1"),
        "train.weight_decay": _NONNEG,
        "train.max_grad_norm": _NONNEG,
        "train.max_length": ((int, _NONE), lambda v: v is None or v >= 1, "null or an integer >= 1"),
        "train.gradient_checkpointing": _ANY_BOOL,
        "train.keep_checkpoints": _ANY_BOOL,
        "train.deterministic": _ANY_BOOL,
        "train.cache_inputs": _ANY_BOOL,
    },
    "export": {
        "export.dataset_id": _NAME,
        "export.splits": (
            _LIST,
            lambda v: len(v) > 0 and set(v) <= {"train", "val", "test"},
            "a list of train, val, test",
        ),
        "export.with_boxes": _ANY_BOOL,
        "export.box_scale": ((int, _NONE), lambda v: v is None or v >= 1, "null (pixels) or an integer >= 1"),
    },
    "merge": {
        "merge.atol": (_NUM, lambda v: v > 0, "a number > 0"),
        "merge.check_samples": ((int,), lambda v: v >= 0, "an integer >= 0"),
    },
    "eval": {
        "eval.batch_size": _POS_INT,
        "eval.max_new_tokens": _POS_INT,
        "eval.max_samples": ((int, _NONE), lambda v: v is None or v >= 1, "null (all) or an integer >= 1"),
        "eval.num_threads": _POS_INT,
    },
}
# keys present only in some recipes / models: checked when present
_OPTIONAL: Rules = {
    "train.vision_learning_rate": ((*_NUM, _NONE), lambda v: v is None or v >= 0, "null or a number >= 0 (0: frozen)"),
    "train.vision_weight_decay": ((*_NUM, _NONE), lambda v: v is None or v >= 0, "null or a number >= 0"),
    "train.label_smoothing": (_NUM, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "train.prompt_dropout": (_NUM, *_FRACTION),
    "train.affine.rotate": _NONNEG,
    "train.affine.scale": (_NUM, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "train.affine.translate": (_NUM, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "train.affine.p": (_NUM, *_FRACTION),
    "train.vision_warmup.epochs": _NONNEG,
    "train.vision_warmup.learning_rate": (_NUM, lambda v: v > 0, "a number > 0"),
    "train.vision_warmup.batch_size": _POS_INT,
    "train.vision_warmup.weight_decay": _NONNEG,
    "model.embedding_init_norm": (_NUM, lambda v: v > 0, "a number > 0"),
    **{
        f"model.text.{k}": _POS_INT
        for k in (
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "head_dim",
            "max_position_embeddings",
            "sliding_window",
        )
    },
    **{
        f"model.vision.{k}": _POS_INT
        for k in (
            "image_size",
            "patch_size",
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
        )
    },
    "model.mm_tokens_per_image": _POS_INT,
    "model.tokenizer.vocab_size": _POS_INT,
    # the name itself is transformers' (get_scheduler refuses an unknown one as train starts,
    # before anything is written); importing transformers here would cost every stage seconds
    "train.lr_scheduler": ((str,), bool, "a transformers scheduler name (linear, cosine, constant_with_warmup, ...)"),
    "train.bnb.quant_type": ((str,), lambda v: v in ("nf4", "fp4"), "nf4 or fp4"),
    "train.bnb.double_quant": _ANY_BOOL,
    "train.bnb.compute_dtype": ((str,), lambda v: v in ("float32", "bfloat16", "float16"), "bfloat16 or float32"),
}
#: keys no stage reads (the synthetic generator's, `radtune synth` / `make data`)
UNCHECKED = ("dataset.synth",)
#: keys `validate` checks as a whole, below the rules
STRUCTURED = ("dataset.variant", "dataset.layout.final", "dataset.stratify.ratios")


def rules_for(cfg: DictConfig) -> Rules:
    """Every rule `validate` applies to `cfg` (for the completeness test)."""
    rules: Rules = {**_COMMON, **variants.get(get(cfg, "dataset.variant")).param_rules()}
    for group, group_rules in _GROUPS.items():
        if group in cfg:
            rules.update(group_rules)
    rules.update({k: r for k, r in _OPTIONAL.items() if OmegaConf.select(cfg, k, default=_MISSING) is not _MISSING})
    return rules


def _check(cfg: DictConfig, rules: Rules, optional: bool = False) -> None:
    """Each key against its rule; a check may also raise ConfigError itself (the stage's own
    parser, e.g. `radtune.windows.parse_window`): its message is kept, after the key."""
    for key, (types, check, what) in rules.items():
        if optional and OmegaConf.select(cfg, key, default=_MISSING) is _MISSING:
            continue
        value = get(cfg, key)
        try:
            good = (bool in types or not isinstance(value, bool)) and isinstance(value, types) and check(value)
        except ConfigError as e:
            raise ConfigError(f"params: '{key}': {e}") from None
        if not good:
            raise ConfigError(f"params: '{key}' must be {what}, got {value!r}")


def _check_combinations(cfg: DictConfig) -> None:
    """Settings that are each valid but make no sense together."""
    if get(cfg, "executor") == "dask" and get(cfg, "dask_scheduler") is None:
        raise ConfigError(
            "params: 'dask_scheduler' must be the Dask scheduler's address (tcp://host:8786) with executor: dask"
        )
    if "model" not in cfg or "train" not in cfg:
        return
    warmup = OmegaConf.select(cfg, "train.vision_warmup.epochs", default=0) or 0
    if get(cfg, "model.build") == "hub" and warmup > 0:
        raise ConfigError(
            f"params: 'train.vision_warmup.epochs' is {warmup}, but model.build=hub has a pretrained vision "
            "encoder: the warm-up (for a from-scratch tower) would overwrite it; set 0"
        )
    if get(cfg, "model.build") == "tiny" and warmup == 0 and OmegaConf.select(cfg, "train.vision_learning_rate") == 0:
        raise ConfigError(
            "params: 'train.vision_learning_rate' is 0 (frozen) with train.vision_warmup.epochs 0, but the tiny "
            "base's vision tower is random: it would never be trained; give the warm-up epochs or a learning rate"
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
    _check(cfg, _OPTIONAL, optional=True)
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
