"""The eval stage's figures (PNG, readable offline): the confusion matrix, the test scores
next to their baselines, and a montage of test images with truth and answer, errors first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from radtune import figures
from radtune.variants.base import Scored, Variant

FIGURES = ("confusion.png", "scores.png", "montage.png")


def eval_figures(
    out_dir: Path, variant: Variant, p: DictConfig, data_dir: Path, rows: Sequence[Mapping[str, Any]], test: Scored
) -> None:
    """`out_dir/{confusion,scores,montage}.png` of the scored test rows."""
    metrics, confusion, predictions = test
    out_dir = Path(out_dir)
    figures.confusion_png(confusion, out_dir / FIGURES[0], f"{variant.name}: {variant.positive_key} (test)")
    figures.scores_png(variant.score_bars(metrics), out_dir / FIGURES[1], f"{variant.name}: test scores and baselines")
    items = figures.errors_first(variant.montage_items(p, data_dir=data_dir, rows=rows, predictions=predictions))
    wrong = sum(not it["correct"] for it in items)
    title = f"{variant.name}: test answers, errors first ({wrong} of {len(items)} wrong)"
    figures.montage_png(items, out_dir / FIGURES[2], title)
