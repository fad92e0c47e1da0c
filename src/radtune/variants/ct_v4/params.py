"""ct_v4's `dataset.*` parameter rules (checked by radtune.params before any work)."""

from __future__ import annotations

from radtune.variants.base import Rules
from radtune.variants.ct_v4.constants import MODES
from radtune.windows import WINDOW_CHOICES_SHORT, is_window

RULES: Rules = {
    "dataset.normalize.mode": ((str,), lambda v: v in MODES, " or ".join(MODES)),
    "dataset.normalize.window": ((str,), is_window, WINDOW_CHOICES_SHORT),
    "dataset.normalize.size": ((int,), lambda v: v >= 0, "an integer >= 0 (0 keeps native size)"),
    "dataset.fetch.bucket": ((str,), bool, "an S3 bucket name"),
    "dataset.stratify.balance_target": ((int, float), lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "dataset.leakage.balance_tolerance": ((int, float), lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "dataset.leakage.phash_max_distance": ((int,), lambda v: 0 <= v <= 64, "an integer in 0..64"),
    "dataset.leakage.near_duplicate_min_correlation": ((int, float), lambda v: -1 <= v <= 1, "a number in [-1, 1]"),
}
