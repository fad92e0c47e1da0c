"""pedirad_8k's `dataset.*` parameter rules (checked by radtune.params before any work)."""

from __future__ import annotations

from omegaconf import ListConfig

from radtune.params import IMAGE_RULES
from radtune.variants.base import Rules
from radtune.variants.pedirad_8k.labels import is_age_range
from radtune.variants.pedirad_8k.patients import is_patient_pattern

_LIST = (list, ListConfig)

RULES: Rules = {
    **IMAGE_RULES,
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
    "dataset.stratify.min_split_images": ((int,), lambda v: v >= 0, "an integer >= 0 (0: no size warning)"),
}
