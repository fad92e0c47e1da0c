"""pedirad_custom's `dataset.*` parameter rules (checked by radtune.params before any work)."""

from __future__ import annotations

from omegaconf import DictConfig, ListConfig

from radtune.params import IMAGE_RULES
from radtune.variants.base import Rules

from .tasks import MIXES, TASKS

_LIST = (list, ListConfig)

RULES: Rules = {
    **IMAGE_RULES,
    "dataset.annotate": ((DictConfig,), lambda v: len(v) == 0, "{} (labels come from the annotation files)"),
    "dataset.normalize.colour_tasks": (
        _LIST,
        lambda v: all(t in TASKS for t in v) and len(set(v)) == len(v),
        f"a list of distinct tasks among {', '.join(TASKS)}",
    ),
    "dataset.mix": ((str,), lambda v: v in MIXES, " or ".join(MIXES)),
}
