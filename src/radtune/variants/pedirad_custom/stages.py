"""pedirad-custom's pipeline stages: what each stage reads and writes.

normalize   <normalized>/images/ (shards of <image_id>.jpg, radtune.shards) + records.json:
            every input file except the annotation files; radiographs grey (window,
            MONOCHROME1, ...), the colour tasks' photographs (`normalize.colour_tasks`) RGB
            with the colour quality score
annotate    <annotated>/records.json: each image joined with its validated annotation record (task,
            labels, provided split, patient); an image without a valid record is rejected
            with the record's reason; <annotated>/annotation_records.json: every
            annotation record, used or rejected with file and field
stratify    <split>/records.json (+ annotation_records.json passed on): the split the
            annotation file gives where it gives one, a patient's other images following
            it; the rest split by patient, stratified per task
augment     processed/<task>/<split>/, annotations/<task>/<split>_annotations.json,
            processing_log.json; dataset metrics and their figure
leakage     <report>: patients / identical / near-duplicate images across splits, all
            tasks together (a child in bone_age train and fractures test is a leak)
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from radtune.figures import distributions_png
from radtune.io import read_json, write_json
from radtune.leakage import check_published
from radtune.normalize import run_stage
from radtune.pseudonym import resolve_key
from radtune.publish import lay_out, processing_log, source_names
from radtune.records import SPLITS, read_records, write_records
from radtune.shards import Shards
from radtune.splits import quality_report
from radtune.stagelog import require_some, say, stage_log
from radtune.variants.base import Final

from . import labels, splitting, stats
from .annotations import find_annotation_files, load_annotations
from .tasks import TASKS, annotations_file, published_records

ANNOTATION_RECORDS = "annotation_records.json"


def annotation_files(raw: Path) -> set[str]:
    """The annotation files of the raw folder (not images: normalize skips them)."""
    return {f.path.relative_to(raw).as_posix() for f in find_annotation_files(raw)}


def normalize(p: DictConfig, *, raw: Path, fetched: Path, out: Path) -> None:
    colour_dirs = tuple(p.dataset.normalize.colour_tasks)
    run_stage(p, raw, fetched, out, exclude=annotation_files(raw), colour_dirs=colour_dirs)


def annotate(p: DictConfig, *, raw: Path, normalized: Path, out: Path) -> None:
    key = resolve_key(p.dataset.pseudonym)
    with stage_log("annotate") as records:
        found = load_annotations(raw)
        records += labels.join(read_records(normalized / "records.json"), found, key)
        say("annotate", labels.record_report(found, records))
    write_records(out / "records.json", records)
    write_json(out / ANNOTATION_RECORDS, labels.record_summary(found))


def stratify(p: DictConfig, *, annotated: Path, out: Path, report: Path) -> None:
    s = p.dataset.stratify
    with stage_log("stratify") as records:
        records += splitting.assign(
            read_records(annotated / "records.json"), ratios=dict(s.ratios), threshold=s.quality_threshold, seed=p.seed
        )
        say("stratify", [f"warning: {w}" for w in splitting.warnings(records)])
    write_records(out / "records.json", records)
    write_json(out / ANNOTATION_RECORDS, read_json(annotated / ANNOTATION_RECORDS))
    write_json(report, quality_report(records, s.quality_threshold))


def augment(
    p: DictConfig, *, normalized: Path, split: Path, data_dir: Path, final: Final, metrics: Path, figure: Path
) -> None:
    processed, annotations_dir, log_path = final
    with stage_log("augment") as records:
        records += read_records(split / "records.json")
        require_some("augment", records)  # before any image is written
        images = lay_out(
            records,
            Shards(normalized / "images"),
            processed,
            data_dir,
            p.dataset.augment,
            p.seed,
            p.dataset.normalize.jpeg_quality,
            folder=lambda r: f"{r['task']}/{r['split']}",
        )
        for task in TASKS:
            for s in SPLITS:
                write_json(annotations_file(annotations_dir, task, s), labels.published(images, task, s))
        log = processing_log(records) | {"annotation_records": read_json(split / ANNOTATION_RECORDS)}
        write_json(log_path, log)
        write_json(metrics, stats.dataset_metrics(images, log))
        distributions_png(stats.plot_tables(images), figure, f"{p.dataset.name}: dataset (original images)")


def leakage_check(p: DictConfig, *, data_dir: Path, final: Final, report: Path) -> bool:
    published = published_records(final[1])
    names = source_names(published, read_json(final[2]))
    scope = f" over {len(TASKS)} tasks"
    return check_published(published, data_dir, p.dataset.leakage, report, names, scope, p.jobs)
