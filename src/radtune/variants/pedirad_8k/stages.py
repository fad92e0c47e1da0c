"""pedirad-8k's pipeline stages: what each stage reads and writes, in the seed's layout.

normalize   <normalized>/images/ shards of <image_id>.jpg (radtune.shards) + <normalized>/records.json
annotate    <annotated> (records with labels: labels CSV > file name > header)
stratify    <split> (records with a split) + <report> (quality report)
augment     final = processed/<split>/, annotations/<split>_annotations.json,
            processing_log.json; dataset metrics and plot data
leakage     <report>: patients / identical / near-duplicate images across splits
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from radtune.figures import distributions_png
from radtune.io import read_json, write_json
from radtune.leakage import check_published
from radtune.normalize import run_stage
from radtune.pseudonym import resolve_key
from radtune.publish import annotations, lay_out, processing_log, source_names
from radtune.records import SPLITS, read_records, write_records
from radtune.shards import Shards
from radtune.splits import quality_report
from radtune.stagelog import require_some, say, stage_log
from radtune.variants.base import Final
from radtune.variants.pedirad_8k import annotate as ann
from radtune.variants.pedirad_8k import stats
from radtune.variants.pedirad_8k import stratify as strat
from radtune.variants.pedirad_8k.conflicts import image_digests
from radtune.variants.pedirad_8k.labelcsv import csv_report, read_labels_csv


def normalize(p: DictConfig, *, raw: Path, fetched: Path, out: Path) -> None:
    labels_csv = p.dataset.annotate.labels_csv
    run_stage(p, raw, fetched, out, exclude={labels_csv} if labels_csv else set())


def annotate(p: DictConfig, *, raw: Path, normalized: Path, out: Path) -> None:
    a = p.dataset.annotate
    settings = ann.settings(a, resolve_key(p.dataset.pseudonym))
    csv_path = raw / a.labels_csv if a.labels_csv else None
    labels = read_labels_csv(csv_path, a.labels_csv) if csv_path and csv_path.exists() else None
    with stage_log("annotate") as records:
        inputs = read_records(normalized / "records.json")
        labelled, matches = ann.annotate(inputs, labels, settings, image_digests(inputs, Shards(normalized / "images")))
        records += labelled
        say("annotate", csv_report(labels, matches) if labels else [])
    write_records(out, records)


def stratify(p: DictConfig, *, annotated: Path, out: Path, report: Path) -> None:
    s = p.dataset.stratify
    with stage_log("stratify") as records:
        records += strat.stratify(
            read_records(annotated),
            mode=s.mode,
            ratios=dict(s.ratios),
            threshold=s.quality_threshold,
            age_edges=list(s.age_bins_months),
            seed=p.seed,
        )
        say("stratify", [f"warning: {w}" for w in strat.split_warnings(records, s.min_split_images)])
    write_records(out, records)
    write_json(report, quality_report(records, s.quality_threshold))


def augment(
    p: DictConfig, *, normalized: Path, split: Path, data_dir: Path, final: Final, metrics: Path, figure: Path
) -> None:
    processed, annotations_dir, log_path = final
    with stage_log("augment") as records:
        records += read_records(split)
        require_some("augment", records)  # before any image is written
        images = lay_out(
            records,
            Shards(normalized / "images"),
            processed,
            data_dir,
            p.dataset.augment,
            p.seed,
            p.dataset.normalize.jpeg_quality,
        )
        for s in SPLITS:
            write_json(annotations_dir / f"{s}_annotations.json", annotations(images, s))
        log = processing_log(records)
        write_json(log_path, log)
        write_json(metrics, stats.dataset_metrics(images, log, p.dataset.stratify.min_split_images))
        distributions_png(stats.plot_tables(images), figure, f"{p.dataset.name}: dataset (original images)")


def leakage_check(p: DictConfig, *, data_dir: Path, final: Final, report: Path) -> bool:
    published = [r for s in SPLITS for r in read_json(final[1] / f"{s}_annotations.json")]
    names = source_names(published, read_json(final[2]))
    return check_published(published, data_dir, p.dataset.leakage, report, names, jobs=p.jobs)
