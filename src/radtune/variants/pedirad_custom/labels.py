"""Labels for pedirad-custom: the validated annotation records (radtune's `annotations`
module) joined with the normalized images, and the published records of each task.

Every input file keeps one record: an image with a valid annotation record gets its task,
labels, provided split and patient; an image whose record was rejected is rejected with
that record's reason (file and field); an image no record names is rejected as unlabelled.
Every annotation record is counted too (`record_summary`): used, or rejected with its
reason (e.g. a record whose image does not exist, which has no input file of its own)."""

from __future__ import annotations

from typing import Any

from radtune.pseudonym import pseudonym
from radtune.records import Record, is_ok, reject

from .annotations import Annotations
from .tasks import task_of

STAGE = "annotate"

#: the fields each task publishes in its {split}_annotations.json (after the common ones)
TASK_FIELDS = {
    "bone_age": ("bone_age_months", "age_months", "sex"),
    "rop_screening": ("zone", "stage", "plus_disease", "postmenstrual_age_weeks", "sex"),
    "fractures": ("fracture", "fracture_type", "location", "age_months", "sex", "clinical_context"),
}
COMMON_FIELDS = ("image_id", "image_path", "patient_id", "task", "split", "provided_split", "augmented_from")
TAIL_FIELDS = ("quality_score", "modality", "padding", "scale", "source_shape")


def _patient(record: Record, label: dict, key: str) -> str:
    """The annotation's patient_id (pseudonymised as the header's would be), else normalize's."""
    pid = label.get("patient_id")
    return pseudonym(f"id:{pid}", key) if pid not in (None, "") else record["patient_id"]


def join(records: list[Record], found: Annotations, key: str) -> list[Record]:
    """Normalized records -> labelled records (rejected: no valid annotation record)."""
    label_of = {r["source"]: r for r in found.records}
    refused = found.refused
    out = []
    for r in records:
        if not is_ok(r):
            out.append(r)
            continue
        source = r["source"]
        label = label_of.get(source)
        if label is None:
            if source in refused:
                out.append(reject(r, STAGE, refused[source]))
            elif task_of(source) is None:
                out.append(reject(r, STAGE, f"{source}: not inside a task folder ({', '.join(TASK_FIELDS)})"))
            else:
                out.append(reject(r, STAGE, f"{source}: no annotation record names this image"))
            continue
        task = label["task"]
        fields = {k: label.get(k) for k in TASK_FIELDS[task]}
        out.append(
            {
                **r,
                **fields,
                "task": task,
                "provided_split": label.get("split"),
                "patient_id": _patient(r, label, key),
                "patient_id_source": "annotation"
                if label.get("patient_id") not in (None, "")
                else r["patient_id_source"],
            }
        )
    return out


def record_summary(found: Annotations) -> dict[str, Any]:
    """Every annotation record: how many were valid, and each rejection's line."""
    c = found.counts
    return {
        "files": c["files"],
        "records": c["records"],
        "valid": c["clean"],
        "rejected": c["rejected"],
        "files_rejected": c["files_rejected"],
        "rejections": list(found.rejected),
    }


def record_report(found: Annotations, images: list[Record]) -> list[str]:
    """The stage log's lines for the annotation records: one per rejected record whose
    reason no rejected image already gives (e.g. a record naming a missing file), then
    the count; so each bad record is named exactly once."""
    told = {r["reason"] for r in images if not is_ok(r) and r["stage"] == STAGE}
    s = record_summary(found)
    lines = [f"rejected: {reason}" for reason in s["rejections"] if reason not in told]
    return [
        *lines,
        f"annotation records: {s['records']} in {s['files']} files, valid: {s['valid']}, rejected: {s['rejected']}",
    ]


def published(images: list[Record], task: str, split: str) -> list[dict[str, Any]]:
    """The published records of one task and split, sorted by image_id, with that task's fields."""
    fields = (*COMMON_FIELDS, *TASK_FIELDS[task], *TAIL_FIELDS)
    return [
        {k: r.get(k) for k in fields}
        for r in sorted(images, key=lambda r: r["image_id"])
        if r["task"] == task and r["split"] == split
    ]
