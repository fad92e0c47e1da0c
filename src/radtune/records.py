"""The per-image record that flows between the data stages.

Every input file gets one record in the normalize stage and keeps it to the end, so that
counts always add up: a record is either `ok` or `rejected` (with the stage and a one-line
reason); later stages only work on `ok` records and pass rejected ones through untouched.

Fields, by the stage that sets them:
  normalize  source (path relative to the raw folder), source_sha256, source_split (train/
             val/test folder or null), status, stage, reason, image_id, patient_id
             (keyed-hash pseudonym), header_sex, header_age_months, modality, body_part,
             view, decision, padding, scale, source_shape, quality_score, quality
             (components), quality_detail (the components below 1 in words)
  annotate   age_months, sex, fracture, fracture_type, location, bone_age_months,
             clinical_context, label_source, label_flags
  stratify   split
  augment    image_path (relative to the data folder), augmented_from
No field ever holds a DICOM header value that identifies a patient (names, ids, dates,
accession numbers, institutions, UIDs).
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from radtune.io import atomic_file, read_json, write_json

Record = dict
#: the pipeline's split names, in order (a variant may name their folders differently)
SPLITS = ("train", "val", "test")

# The fields of a record published in {split}_annotations.json, in a stable order.
ANNOTATION_FIELDS = (
    "image_id",
    "image_path",
    "patient_id",
    "age_months",
    "sex",
    "fracture",
    "fracture_type",
    "location",
    "bone_age_months",
    "clinical_context",
    "quality_score",
    "split",
    "source_split",
    "augmented_from",
    "label_flags",
    "modality",
    "body_part",
    "view",
    "padding",
    "scale",
    "source_shape",
)


def is_ok(record: Record) -> bool:
    return record["status"] == "ok"


def ok(records: Iterable[Record]) -> list[Record]:
    return [r for r in records if is_ok(r)]


def reject(record: Record, stage: str, reason: str) -> Record:
    """The record marked as rejected at `stage`, with a one-line reason."""
    one_line = " ".join(str(reason).split())
    return {**record, "status": "rejected", "stage": stage, "reason": one_line}


def read_records(path: str | Path) -> list[Record]:
    return read_json(path)


def write_records(path: str | Path, records: list[Record]) -> None:
    write_json(path, sorted(records, key=lambda r: r["source"]))


@contextmanager
def records_writer(path: str | Path) -> Iterator[Callable[[Record], None]]:
    """`with records_writer(p) as write: write(record) ...`: records.json written one
    record at a time, so a stage's records need not fit in memory; the same bytes as
    `write_records(p, records)`, for records that arrive sorted by source (anything else is
    a bug: RuntimeError). The file appears when the block ends without an error."""
    with atomic_file(path, "w") as f:
        last: list[str] = []

        def write(record: Record) -> None:
            if last and record["source"] <= last[0]:
                raise RuntimeError(f"records_writer: {record['source']!r} arrived after {last[0]!r} (not sorted)")
            item = textwrap.indent(json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False), "  ")
            f.write(("[\n" if not last else ",\n") + item)
            last[:] = [record["source"]]

        yield write
        f.write("\n]\n" if last else "[]\n")


def summary(records: list[Record]) -> dict:
    """Counts for a stage's log line: inputs, ok, rejected (by stage)."""
    rejected = Counter(r["stage"] for r in records if not is_ok(r))
    return {"inputs": len(records), "ok": len(ok(records)), "rejected": dict(sorted(rejected.items()))}


def check_counts(what: str, total: int, **parts: int) -> None:
    """Raise when the parts do not add up to the total: an input was lost (a bug)."""
    if total != sum(parts.values()):
        detail = " + ".join(f"{k.replace('_', ' ')} {v}" for k, v in parts.items())
        raise RuntimeError(f"{what}: counts do not add up: {total} in, {detail} (an input was lost)")
