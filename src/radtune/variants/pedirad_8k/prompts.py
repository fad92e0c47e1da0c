"""pedirad-8k's export rows: the prompt (clinical context, patient, answer format) and the
structured target of every annotation record.

  prompt   "Clinical context: fell on outstretched hand. Patient: 48 months old, male. Read ..."
  target   {"bone_age_months":51,"fracture":true,"fracture_type":"buckle","location":"distal_radius"}

The age comes last before the instruction and bone age first in the answer, so that the
answer's bone age sits at a fixed distance from the age it starts from, whatever the
length of the clinical context or of the fracture fields.

Bone age is rounded to whole months in the target (Greulich-Pyle standards are far coarser
than that); null stays null. Rows are a pure function of the annotation files."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from radtune.errors import InputRejected
from radtune.export import chat_row, target_text
from radtune.io import read_json
from radtune.pediatric import describe_patient, round_months

TARGET_KEYS = ("bone_age_months", "fracture", "fracture_type", "location")
REQUIRED_FIELDS = ("image_id", "image_path", "fracture", "fracture_type", "location")
NO_CONTEXT = "none given"

INSTRUCTION = (
    "Read this pediatric hand/wrist/forearm radiograph. Answer with JSON only, keys: "
    "bone_age_months, fracture (true/false), fracture_type, location."
)


def build_prompt(record: Mapping[str, Any]) -> str:
    """The user's text turn: clinical context, patient, and the answer format."""
    context = " ".join(str(record.get("clinical_context") or "").split()) or NO_CONTEXT
    return f"Clinical context: {context}. {describe_patient(record.get('age_months'), record.get('sex'))} {INSTRUCTION}"


def blank_text(text: str) -> str:
    """A pedirad-8k prompt with its clinical context removed (training's prompt dropout,
    `train.prompt_dropout`, so that the fracture answer must come from the image and not
    from "fell on outstretched hand; swelling"). The patient line stays: age and sex are
    where every bone-age reading starts, not a shortcut. Blanking them too left the model
    unable to copy the age (val bone-age MAE 15.9 against 11.2 keeping them), as in
    pedirad_custom. A text that is no prompt of this variant is returned unchanged."""
    if not text.endswith(INSTRUCTION):
        return text
    _, sep, patient = text.rpartition(" Patient: ")
    return f"Clinical context: {NO_CONTEXT}.{sep}{patient}" if sep else build_prompt({})


def build_target(record: Mapping[str, Any]) -> dict[str, Any]:
    """The structured answer, keys in TARGET_KEYS order."""
    return {
        "bone_age_months": round_months(record.get("bone_age_months")),
        "fracture": bool(record["fracture"]),
        "fracture_type": str(record["fracture_type"]),
        "location": str(record["location"]),
    }


def export_row(record: Mapping[str, Any], source: str = "") -> dict[str, Any]:
    missing = [f for f in REQUIRED_FIELDS if record.get(f) is None]
    if missing:
        raise InputRejected(f"{source}: record {record.get('image_id')!r} has no {', '.join(missing)}")
    return chat_row(
        str(record["image_id"]), str(record["image_path"]), build_prompt(record), target_text(build_target(record))
    )


def export_rows(records: Iterable[Mapping[str, Any]], source: str = "") -> list[dict[str, Any]]:
    rows = sorted((export_row(r, source) for r in records), key=lambda r: r["id"])
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InputRejected(f"{source}: image_id {dup!r} appears more than once")
    return rows


def split_rows(annotations_dir: Path, split: str) -> list[dict[str, Any]]:
    """The rows of `<annotations_dir>/<split>_annotations.json`."""
    source = Path(annotations_dir) / f"{split}_annotations.json"
    if not source.exists():
        raise InputRejected(f"{source}: annotation file not found; run the data stages first")
    records = read_json(source)
    if not isinstance(records, list):
        raise InputRejected(f"{source}: expected a JSON array of records")
    return export_rows(records, str(source))
