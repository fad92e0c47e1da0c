"""ct_v4: head-CT hemorrhage detection, 6 classes EDH HC IPH IVH SAH SDH with COCO boxes
(seed 002, provenance id `ct-v4`).

The no-hemorrhage pool is fetched from S3 (`fetch`, `s3pool`), slices are windowed to PNG
(`normalize`), the labelled sources remapped and merged as COCO (`coco`), split at patient
level and balanced with pool slices (`split`), train slices get bbox-aware copies
(`bbox_augment`), the 4-class subset is symlinked (`subset`), and the seed's checks plus
radtune's image leakage check validate the result (`validate`); `stages` and `publish`
(the augment stage) run each stage.
Rows ask for {hemorrhage, types[, boxes]} (`prompts`, `targets`), scored with any-hemorrhage
and per-class F1 and COCO mAP (`scoring`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from radtune.variants.base import Final, Rules, Scored, Variant


class CtV4(Variant):
    name = "ct_v4"
    positive_key = "hemorrhage"
    ablation_metrics = ("hemorrhage_accuracy", "types_macro_f1")

    def param_rules(self) -> Rules:
        from radtune.variants.ct_v4.params import RULES

        return RULES

    def check_inputs(self, p: DictConfig, *, raw: Path) -> None:
        """Nothing to check: no ct_v4 setting depends on the layout of the raw folder (its
        sources and the S3 pool are read as configured; a missing one fails its stage)."""

    def synth(self, out_dir: Path, *, n: int, seed: int) -> dict:
        from radtune.variants.ct_v4.synth import generate

        return generate(Path(out_dir), n=n, seed=seed)

    def fetch(self, p: DictConfig, *, raw: Path, out: Path) -> None:
        from radtune.inventory import write_inventory
        from radtune.variants.ct_v4.stages import stage_fetch

        write_inventory(raw, out, p.jobs)
        stage_fetch(p.dataset, raw_dir=raw, out_dir=out, executor=p.executor, address=p.dask_scheduler)

    def normalize(self, p: DictConfig, *, raw: Path, fetched: Path, out: Path) -> None:
        from radtune.variants.ct_v4.stages import stage_normalize

        stage_normalize(
            p.dataset,
            raw_dir=raw,
            fetched_dir=fetched,
            out_dir=out,
            jobs=p.jobs,
            executor=p.executor,
            address=p.dask_scheduler,
        )

    def annotate(self, p: DictConfig, *, raw: Path, fetched: Path, normalized: Path, out: Path) -> None:
        from radtune.variants.ct_v4.stages import stage_annotate

        stage_annotate(p.dataset, raw_dir=raw, normalized_dir=normalized, fetched_dir=fetched, out_dir=out)

    def stratify(self, p: DictConfig, *, annotated: Path, out: Path, report: Path) -> None:
        from radtune.io import write_json
        from radtune.variants.ct_v4.stages import stage_stratify

        write_json(report, stage_stratify(p.dataset, annotated_dir=annotated, out_dir=out, seed=p.seed))

    def augment(
        self, p: DictConfig, *, normalized: Path, split: Path, data_dir: Path, final: Final, metrics: Path, figure: Path
    ) -> None:
        from radtune.variants.ct_v4.publish import stage_publish

        stage_publish(
            p.dataset,
            splits_dir=split,
            normalized_dir=normalized,
            final=final,
            metrics=metrics,
            figure=figure,
            seed=p.seed,
        )

    def leakage_check(self, p: DictConfig, *, data_dir: Path, final: Final, report: Path) -> bool:
        from radtune.variants.ct_v4.stages import stage_leakage_check

        six, _, four = final
        return bool(stage_leakage_check(p.dataset, six_dir=six, four_dir=four, report_path=report)["passed"])

    def export_rows(self, p: DictConfig, *, data_dir: Path, split: str) -> list[dict]:
        from radtune.variants.ct_v4.prompts import split_rows

        final = p.dataset.layout.final[0]
        return split_rows(Path(data_dir) / final, final, split, bool(p.export.with_boxes), p.export.box_scale or None)

    def source_names(self, p: DictConfig, *, data_dir: Path) -> dict[str, str]:
        from radtune.variants.ct_v4.scoring import source_names

        return source_names(Path(data_dir) / p.dataset.layout.final[0])

    def blank_text(self, text: str) -> str:
        return text  # the prompt carries no patient context

    def score(
        self,
        test_rows: Sequence[Mapping[str, Any]],
        outputs: Sequence[str],
        train_rows: Sequence[Mapping[str, Any]],
        option_logprobs: Sequence[Sequence[float]] | None = None,
    ) -> Scored:
        from radtune.variants.ct_v4.scoring import score_ct

        return score_ct(test_rows, outputs, train_rows)

    def score_bars(self, metrics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        from radtune.variants.ct_v4.scoring import score_bars

        return score_bars(metrics)

    def montage_items(
        self,
        p: DictConfig,
        *,
        data_dir: Path,
        rows: Sequence[Mapping[str, Any]],
        predictions: Sequence[Mapping[str, Any]],
    ) -> list[dict]:
        from radtune.variants.ct_v4.scoring import montage_items

        final = p.dataset.layout.final[0]
        return montage_items(Path(data_dir) / final, "test", rows, predictions, p.export.box_scale or None)

    def headline(self, metrics: Mapping[str, Any]) -> str:
        return (
            f"any-hemorrhage accuracy {metrics['hemorrhage_accuracy']} "
            f"(majority {metrics['hemorrhage_majority_accuracy']}), F1 {metrics['hemorrhage_f1']}, "
            f"types macro F1 {metrics['types_macro_f1']}"
        )


VARIANT = CtV4()
