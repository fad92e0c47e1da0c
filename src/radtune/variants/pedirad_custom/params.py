"""pedirad_custom's `dataset.*` parameter rules (checked by radtune.params before any work)."""

from __future__ import annotations

from omegaconf import ListConfig

from radtune.variants.base import Rules
from radtune.variants.pedirad_8k.params import RULES as PEDIRAD_8K_RULES

from .prompts import MIXES
from .tasks import TASKS

_LIST = (list, ListConfig)
_SHARED = (
    "dataset.fetch",
    "dataset.normalize.size",
    "dataset.normalize.window",
    "dataset.normalize.jpeg_quality",
    "dataset.normalize.auto_percentiles",
    "dataset.stratify.quality_threshold",
    "dataset.leakage.phash_max_distance",
    "dataset.leakage.near_duplicate_min_correlation",
)

RULES: Rules = {
    **{k: PEDIRAD_8K_RULES[k] for k in _SHARED},
    "dataset.normalize.colour_tasks": (
        _LIST,
        lambda v: all(t in TASKS for t in v) and len(set(v)) == len(v),
        f"a list of distinct tasks among {', '.join(TASKS)}",
    ),
    "dataset.mix": ((str,), lambda v: v in MIXES, " or ".join(MIXES)),
}
