"""pedirad_8k: pediatric hand/wrist/forearm radiographs with fracture and bone-age labels
(seed 000, provenance id `pedirad-8k`).

Labels come from the file-name convention (`labels`), an optional labels CSV and the DICOM
header (`annotate`); splits are patient-level, stratified by age bin x sex x fracture
(`stratify`); train images get seeded augmented copies (`augment`); the published layout is
the seed's (`stages`). Rows ask for {fracture, fracture_type, location, bone_age_months}
(`prompts`), scored against majority and mean-predictor baselines (`scoring`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from radtune.variants.base import Final, Rules, Scored, Variant


class Pedirad8k(Variant):
    name = "pedirad_8k"
    positive_key = "fracture"
    ablation_metrics = (
        "fracture_accuracy",
        "fracture_type_accuracy_on_fractures",
        "location_accuracy_on_fractures",
        "bone_age_mae",
    )

    def param_rules(self) -> Rules:
        from radtune.variants.pedirad_8k.params import RULES

        return RULES

    def check_inputs(self, p: DictConfig, *, raw: Path) -> None:
        from radtune.variants.pedirad_8k.stratify import check_keep_layout

        check_keep_layout(p, raw=raw)

    def synth(self, out_dir: Path, *, n: int, seed: int) -> dict:
        from radtune.variants.pedirad_8k.synth import generate

        return generate(Path(out_dir), n=n, seed=seed)

    def fetch(self, p: DictConfig, *, raw: Path, out: Path) -> None:
        from radtune.inventory import write_inventory

        write_inventory(raw, out, p.jobs)

    def normalize(self, p: DictConfig, *, raw: Path, fetched: Path, out: Path) -> None:
        from radtune.variants.pedirad_8k.stages import normalize

        normalize(p, raw=raw, fetched=fetched, out=out)

    def annotate(self, p: DictConfig, *, raw: Path, fetched: Path, normalized: Path, out: Path) -> None:
        from radtune.variants.pedirad_8k.stages import annotate

        annotate(p, raw=raw, normalized=normalized, out=out)

    def stratify(self, p: DictConfig, *, annotated: Path, out: Path, report: Path) -> None:
        from radtune.variants.pedirad_8k.stages import stratify

        stratify(p, annotated=annotated, out=out, report=report)

    def augment(
        self, p: DictConfig, *, normalized: Path, split: Path, data_dir: Path, final: Final, metrics: Path, figure: Path
    ) -> None:
        from radtune.variants.pedirad_8k.stages import augment

        augment(p, normalized=normalized, split=split, data_dir=data_dir, final=final, metrics=metrics, figure=figure)

    def leakage_check(self, p: DictConfig, *, data_dir: Path, final: Final, report: Path) -> bool:
        from radtune.variants.pedirad_8k.stages import leakage_check

        return leakage_check(p, data_dir=data_dir, final=final, report=report)

    def export_rows(self, p: DictConfig, *, data_dir: Path, split: str) -> list[dict]:
        from radtune.variants.pedirad_8k.prompts import split_rows

        return split_rows(Path(data_dir) / p.dataset.layout.final[1], split)

    def source_names(self, p: DictConfig, *, data_dir: Path) -> dict[str, str]:
        from radtune.io import read_json
        from radtune.publish import source_names
        from radtune.records import SPLITS

        annotations, log = (Path(data_dir) / f for f in p.dataset.layout.final[1:])
        published = [r for s in SPLITS for r in read_json(annotations / f"{s}_annotations.json")]
        return source_names(published, read_json(log))

    def blank_text(self, text: str) -> str:
        from radtune.variants.pedirad_8k.prompts import blank_text

        return blank_text(text)

    def score(
        self,
        test_rows: Sequence[Mapping[str, Any]],
        outputs: Sequence[str],
        train_rows: Sequence[Mapping[str, Any]],
        option_logprobs: Sequence[Sequence[float]] | None = None,
    ) -> Scored:
        from radtune.pediatric import train_baselines
        from radtune.variants.pedirad_8k.scoring import score

        return score(test_rows, outputs, train_baselines(train_rows))

    def headline(self, metrics: Mapping[str, Any]) -> str:
        from radtune.variants.pedirad_8k.scoring import headline

        return headline(metrics)

    def score_bars(self, metrics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        from radtune.variants.pedirad_8k.scoring import score_bars

        return score_bars(metrics)

    def montage_items(
        self,
        p: DictConfig,
        *,
        data_dir: Path,
        rows: Sequence[Mapping[str, Any]],
        predictions: Sequence[Mapping[str, Any]],
    ) -> list[dict]:
        from radtune.variants.pedirad_8k.scoring import montage_items

        return montage_items(data_dir, rows, predictions)


VARIANT = Pedirad8k()
