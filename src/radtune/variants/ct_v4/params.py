"""ct_v4's `dataset.*` parameter rules (checked by radtune.params before any work)."""

from __future__ import annotations

from omegaconf import DictConfig, ListConfig, OmegaConf

from radtune.variants.base import Rules
from radtune.variants.ct_v4.constants import MODES
from radtune.windows import WINDOW_CHOICES_SHORT, is_window

_NONE, _LIST = type(None), (list, ListConfig)


def _sources(v: DictConfig) -> bool:
    """dataset.annotate.sources: each source names its annotations and images (paths in
    raw_dir), a class_map (source category -> target class) and a drop list."""
    return len(v) > 0 and all(
        isinstance(src, DictConfig)
        and isinstance(src.get("annotations"), str)
        and isinstance(src.get("images"), str)
        and isinstance(src.get("class_map"), DictConfig)
        and all(isinstance(t, str) for t in src.class_map.values())
        and OmegaConf.is_list(src.get("drop"))
        for src in v.values()
    )


RULES: Rules = {
    "dataset.normalize.mode": ((str,), lambda v: v in MODES, " or ".join(MODES)),
    "dataset.normalize.window": ((str,), is_window, WINDOW_CHOICES_SHORT),
    "dataset.normalize.size": ((int,), lambda v: v >= 0, "an integer >= 0 (0 keeps native size)"),
    "dataset.fetch.bucket": ((str,), bool, "an S3 bucket name"),
    "dataset.fetch.endpoint": ((str, _NONE), lambda v: v is None or bool(v), "local, an S3 URL or null (AWS)"),
    "dataset.fetch.region": ((str,), bool, "an AWS region"),
    "dataset.fetch.access_key_env": ((str, _NONE), lambda v: v is None or bool(v), "null or a variable name"),
    "dataset.fetch.secret_key_env": ((str, _NONE), lambda v: v is None or bool(v), "null or a variable name"),
    "dataset.fetch.seed_dir": ((str, _NONE), lambda v: v is None or bool(v), "null or a folder in raw_dir"),
    "dataset.fetch.metadata_csv": ((str,), bool, "a CSV path in raw_dir"),
    "dataset.fetch.max_images": ((int, _NONE), lambda v: v is None or v >= 0, "null (all) or an integer >= 0"),
    "dataset.fetch.fp_only": ((bool,), lambda v: True, "true or false"),
    "dataset.fetch.allowed_thickness": (_LIST, lambda v: all(isinstance(x, (int, float)) for x in v), "a list of mm"),
    "dataset.fetch.retries": ((int,), lambda v: v >= 0, "an integer >= 0"),
    "dataset.fetch.backoff_seconds": ((int, float), lambda v: v >= 0, "a number >= 0"),
    "dataset.annotate.sources": ((DictConfig,), _sources, "per source: annotations, images, class_map, drop"),
    "dataset.augment.shift_limit": ((int, float), lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "dataset.augment.min_visibility": ((int, float), lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "dataset.augment.max_tries": ((int,), lambda v: v >= 1, "an integer >= 1"),
    "dataset.augment.subset.drop_classes": (_LIST, lambda v: all(isinstance(x, str) for x in v), "a list of classes"),
    "dataset.augment.subset.empty_images": ((str,), lambda v: v in ("keep", "drop"), "keep or drop"),
    "dataset.stratify.balance_target": ((int, float), lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "dataset.leakage.balance_tolerance": ((int, float), lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "dataset.leakage.phash_max_distance": ((int,), lambda v: 0 <= v <= 64, "an integer in 0..64"),
    "dataset.leakage.near_duplicate_min_correlation": ((int, float), lambda v: -1 <= v <= 1, "a number in [-1, 1]"),
}
