"""pedirad_8k's `dataset.*` parameter rules (checked by radtune.params before any work)."""

from __future__ import annotations

from radtune.variants.base import Rules
from radtune.windows import WINDOW_CHOICES_SHORT, is_window

RULES: Rules = {
    "dataset.normalize.size": ((int,), lambda v: v >= 0, "an integer >= 0 (0 keeps native size)"),
    "dataset.normalize.window": ((str,), is_window, WINDOW_CHOICES_SHORT),
    "dataset.normalize.jpeg_quality": ((int,), lambda v: 1 <= v <= 100, "an integer in 1..100"),
    "dataset.stratify.mode": ((str,), lambda v: v in ("keep", "stratified"), "keep or stratified"),
    "dataset.stratify.quality_threshold": ((int, float), lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "dataset.leakage.phash_max_distance": ((int,), lambda v: 0 <= v <= 64, "an integer in 0..64"),
    "dataset.leakage.near_duplicate_min_correlation": ((int, float), lambda v: -1 <= v <= 1, "a number in [-1, 1]"),
}
