"""pedirad_custom: the multi-task pediatric set of seed 001 (provenance id `pedirad-custom`):
bone age from hand radiographs, ROP screening from colour fundus photographs, fractures
from wrist radiographs, one adapter for all three.

Labels come from annotation files checked against each task's schema (`annotations`),
joined with the normalized images (`labels`); radiographs are grey, fundus photographs
stay RGB (`dataset.normalize.colour_tasks`). Splits keep the provided ones and split the
rest by patient over all tasks (`splitting`); the published layout is
processed/<task>/<split>/ + annotations/<task>/<split>_annotations.json (`stages`). Rows
carry a `task`, with the training mix over tasks (`prompts`); eval scores each task with
the seed's metrics, ROP by the likelihood of every valid answer (`scoring`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from radtune.variants.base import Final, Rules, Scored, Variant


class PediradCustom(Variant):
    name = "pedirad_custom"
    positive_key = "fracture"
    ablation_metrics = (
        "rop_zone_macro_auc",
        "rop_plus_auc",
        "rop_any_auc",
        "zone_i_sensitivity",
        "fracture_accuracy",
        "distal_radius_sensitivity",
        "bone_age_mae",
    )

    def param_rules(self) -> Rules:
        from .params import RULES

        return RULES

    def check_inputs(self, p: DictConfig, *, raw: Path) -> None:
        return None  # every layout the seed allows is read; nothing a setting could contradict

    def synth(self, out_dir: Path, *, n: int, seed: int) -> dict:
        from .synth import generate

        return generate(Path(out_dir), n=n, seed=seed)

    def fetch(self, p: DictConfig, *, raw: Path, out: Path) -> None:
        from radtune.inventory import write_inventory

        write_inventory(raw, out, p.jobs)

    def normalize(self, p: DictConfig, *, raw: Path, fetched: Path, out: Path) -> None:
        from .stages import normalize

        normalize(p, raw=raw, fetched=fetched, out=out)

    def annotate(self, p: DictConfig, *, raw: Path, fetched: Path, normalized: Path, out: Path) -> None:
        from .stages import annotate

        annotate(p, raw=raw, normalized=normalized, out=out)

    def stratify(self, p: DictConfig, *, annotated: Path, out: Path, report: Path) -> None:
        from .stages import stratify

        stratify(p, annotated=annotated, out=out, report=report)

    def augment(
        self, p: DictConfig, *, normalized: Path, split: Path, data_dir: Path, final: Final, metrics: Path, figure: Path
    ) -> None:
        from .stages import augment

        augment(p, normalized=normalized, split=split, data_dir=data_dir, final=final, metrics=metrics, figure=figure)

    def leakage_check(self, p: DictConfig, *, data_dir: Path, final: Final, report: Path) -> bool:
        from .stages import leakage_check

        return leakage_check(p, data_dir=data_dir, final=final, report=report)

    def export_rows(self, p: DictConfig, *, data_dir: Path, split: str) -> list[dict]:
        from .prompts import mixed, split_rows

        rows = split_rows(Path(data_dir) / p.dataset.layout.final[1], split)
        return mixed(rows, p.dataset.mix, p.seed) if split == "train" else rows

    def source_names(self, p: DictConfig, *, data_dir: Path) -> dict[str, str]:
        from radtune.io import read_json
        from radtune.publish import source_names

        from .tasks import published_records

        annotations, log = (Path(data_dir) / f for f in p.dataset.layout.final[1:])
        return source_names(published_records(annotations), read_json(log))

    def blank_text(self, text: str) -> str:
        from .prompts import blank_text

        return blank_text(text)

    def answer_options(self, row: Mapping[str, Any]) -> list[str]:
        from .scoring import answer_options

        return answer_options(row)

    def score(
        self,
        test_rows: Sequence[Mapping[str, Any]],
        outputs: Sequence[str],
        train_rows: Sequence[Mapping[str, Any]],
        option_logprobs: Sequence[Sequence[float]] | None = None,
    ) -> Scored:
        from .scoring import score, train_baselines

        return score(test_rows, outputs, train_baselines(train_rows), option_logprobs)

    def headline(self, metrics: Mapping[str, Any]) -> str:
        from .scoring import headline

        return headline(metrics)

    def score_bars(self, metrics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        from .scoring import score_bars

        return score_bars(metrics)

    def montage_items(
        self,
        p: DictConfig,
        *,
        data_dir: Path,
        rows: Sequence[Mapping[str, Any]],
        predictions: Sequence[Mapping[str, Any]],
    ) -> list[dict]:
        from .scoring import montage_items

        return montage_items(data_dir, rows, predictions)


VARIANT = PediradCustom()
