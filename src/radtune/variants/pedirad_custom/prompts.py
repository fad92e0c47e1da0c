"""pedirad-custom's export rows: one prompt and JSON target per task, a `task` field on
every row, and the training mix over tasks.

  bone_age       "Patient: 48 months old, male. Read this pediatric hand radiograph ..."
                 -> {"bone_age_months":51}
  rop_screening  "Infant: 36 weeks postmenstrual age, female. Read this wide-field fundus ..."
                 -> {"zone":"II","stage":1,"plus_disease":false}   (zone null when stage 0)
  fractures      pedirad-8k's prompt without bone age
                 -> {"fracture":true,"fracture_type":"buckle","location":"distal_radius"}

The patient sentence is pedirad-8k's (`describe_patient`), so the chronological-age
baseline reads the age back from the prompt the same way. Rows are a pure function of the
annotation files and, for the train mix, the seed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from radtune.errors import InputRejected
from radtune.export import chat_row, target_text
from radtune.io import read_json
from radtune.pediatric import describe_patient, round_months
from radtune.seeds import sub_rng

from .tasks import TASKS, annotations_file

INSTRUCTIONS = {
    "bone_age": (
        "Read this pediatric left hand radiograph for skeletal maturity (Greulich-Pyle). "
        "Answer with JSON only, key: bone_age_months."
    ),
    "rop_screening": (
        "Read this wide-field fundus photograph of a premature infant for retinopathy of prematurity. "
        "Answer with JSON only, keys: zone (I, II, III or null), stage (0-5), plus_disease (true/false)."
    ),
    "fractures": (
        "Read this pediatric wrist radiograph. Answer with JSON only, keys: "
        "fracture (true/false), fracture_type, location."
    ),
}
_SEX = {"M": "male", "F": "female"}


def describe_infant(pma_weeks: Any, sex: Any) -> str:
    known = isinstance(pma_weeks, int) and not isinstance(pma_weeks, bool)
    age = f"{pma_weeks} weeks postmenstrual age" if known else "postmenstrual age unknown"
    return f"Infant: {age}, {_SEX.get(str(sex).upper(), 'sex unknown')}."


def build_prompt(task: str, record: Mapping[str, Any]) -> str:
    if task == "rop_screening":
        return f"{describe_infant(record.get('postmenstrual_age_weeks'), record.get('sex'))} {INSTRUCTIONS[task]}"
    patient = describe_patient(record.get("age_months"), record.get("sex"))
    if task == "fractures":
        context = " ".join(str(record.get("clinical_context") or "").split()) or "none given"
        return f"{patient} Clinical context: {context}. {INSTRUCTIONS[task]}"
    return f"{patient} {INSTRUCTIONS[task]}"


def blank_text(text: str) -> str:
    """A prompt with its patient context removed (training's prompt dropout, which makes the
    answer come from the image where the context is a shortcut: the clinical context for a
    fracture, age for ROP). A bone-age prompt is kept whole: the chronological age and sex
    are what every bone-age reading starts from (the question is how far the skeleton is
    from that age), not a shortcut; blanking them taught the model neither to use them nor
    to read the image (val MAE 19.0 with dropout 0.5 against 8.5 without, bone-age rows
    alone). A text that is no prompt of this variant is returned unchanged."""
    for task, instruction in INSTRUCTIONS.items():
        if text.endswith(instruction):
            return text if task == "bone_age" else build_prompt(task, {})
    return text


def build_target(task: str, record: Mapping[str, Any]) -> dict[str, Any]:
    if task == "bone_age":
        return {"bone_age_months": round_months(record["bone_age_months"])}
    if task == "rop_screening":
        return {"zone": record.get("zone"), "stage": int(record["stage"]), "plus_disease": bool(record["plus_disease"])}
    return {
        "fracture": bool(record["fracture"]),
        "fracture_type": str(record["fracture_type"]),
        "location": str(record["location"]),
    }


def task_row(task: str, record: Mapping[str, Any]) -> dict[str, Any]:
    row = chat_row(
        str(record["image_id"]),
        str(record["image_path"]),
        build_prompt(task, record),
        target_text(build_target(task, record)),
    )
    return {**row, "task": task}


def split_rows(annotations_dir: Path, split: str) -> list[dict[str, Any]]:
    """Every task's rows of one split (from annotations/<task>/<split>_annotations.json), by id."""
    rows = []
    for task in TASKS:
        source = annotations_file(annotations_dir, task, split)
        if not source.exists():
            raise InputRejected(f"{source}: annotation file not found; run the data stages first")
        rows += [task_row(task, r) for r in read_json(source)]
    rows.sort(key=lambda r: r["id"])
    ids = Counter(r["id"] for r in rows)
    if dup := next((i for i, c in ids.items() if c > 1), None):
        raise InputRejected(f"{annotations_dir}: image_id {dup!r} appears more than once in split {split}")
    return rows


def mixed(rows: Sequence[Mapping[str, Any]], mix: str, seed: int) -> list[dict[str, Any]]:
    """The training mix. proportional: the rows as they are. balanced: every task's rows
    repeated up to the largest task's count (whole passes, then a seeded sample of the
    rest); a repeat is the same row with id `<id>~r<k>` and `repeat_of` = the original id."""
    if mix == "proportional":
        return [dict(r) for r in rows]
    by_task: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        by_task.setdefault(r["task"], []).append(r)
    largest = max((len(v) for v in by_task.values()), default=0)
    out = [dict(r) for r in rows]
    for task, part in sorted(by_task.items()):
        extra = largest - len(part)
        picks = [part[i % len(part)] for i in range(extra - extra % len(part))]
        rest = sub_rng(seed, "mix", task).permutation(len(part))[: extra % len(part)]
        picks += [part[int(i)] for i in sorted(rest)]
        seen: Counter = Counter()
        for r in picks:
            seen[r["id"]] += 1
            out.append({**r, "id": f"{r['id']}~r{seen[r['id']]}", "repeat_of": r["id"]})
    out.sort(key=lambda r: r["id"])
    return out
