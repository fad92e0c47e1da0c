"""pedirad_8k's `dataset.*` parameter rules (checked by radtune.params before any work)."""

from __future__ import annotations

from omegaconf import DictConfig, ListConfig

from radtune.variants.base import Rules
from radtune.variants.pedirad_8k.labels import is_age_range
from radtune.variants.pedirad_8k.patients import is_patient_pattern
from radtune.windows import WINDOW_CHOICES_SHORT, check_percentiles, is_window

_LIST = (list, ListConfig)

RULES: Rules = {
    "dataset.fetch": ((DictConfig,), lambda v: len(v) == 0, "{} (the inputs are local: nothing to download)"),
    "dataset.normalize.size": ((int,), lambda v: v >= 0, "an integer >= 0 (0 keeps native size)"),
    "dataset.normalize.window": ((str,), is_window, WINDOW_CHOICES_SHORT),
    "dataset.normalize.jpeg_quality": ((int,), lambda v: 1 <= v <= 100, "an integer in 1..100"),
    # the auto window's bounds: render's own check (raises naming what is wrong)
    "dataset.normalize.auto_percentiles": (_LIST, lambda v: bool(check_percentiles(v)), "[low, high] percent"),
    "dataset.annotate.labels_csv": (
        (str, type(None)),
        lambda v: v is None or bool(v),
        "null or a file name in raw_dir",
    ),
    "dataset.stratify.age_bins_months": (
        _LIST,
        lambda v: (
            len(v) >= 1
            and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v)
            and list(v) == sorted(set(v))
        ),
        "increasing whole months >= 0",
    ),
    "dataset.annotate.age_range_months": (_LIST, is_age_range, "[min, max] months with 0 <= min < max"),
    "dataset.annotate.patient_pattern": (
        (str, type(None)),
        is_patient_pattern,
        "null or a regular expression whose first group (...) is the patient key",
    ),
    "dataset.stratify.mode": ((str,), lambda v: v in ("keep", "stratified"), "keep or stratified"),
    "dataset.stratify.quality_threshold": ((int, float), lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "dataset.stratify.min_split_images": ((int,), lambda v: v >= 0, "an integer >= 0 (0: no size warning)"),
    "dataset.leakage.phash_max_distance": ((int,), lambda v: 0 <= v <= 64, "an integer in 0..64"),
    "dataset.leakage.near_duplicate_min_correlation": ((int, float), lambda v: -1 <= v <= 1, "a number in [-1, 1]"),
}
