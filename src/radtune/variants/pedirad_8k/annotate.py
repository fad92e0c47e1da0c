"""The annotate stage's library: labels for every normalized image.

Sources, strongest first: the labels CSV (optional, `labelcsv`), the file-name convention
(`labels`, read part by part), the DICOM header (sex, age). Disagreements between the
file name and the header are flagged on the record, not silently resolved. An image is
rejected, with a reason naming its file (relative to the raw folder) and the part at
fault, when a label is missing or unknown, an age or bone age is outside
`dataset.annotate.age_range_months`, its CSV rows disagree, a `patient_pattern` does not
match it, or an identical image carries other labels (`conflicts`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from omegaconf import DictConfig

from radtune.pseudonym import pseudonym
from radtune.records import Record, is_ok, reject
from radtune.variants.pedirad_8k.conflicts import hold_out_conflicts
from radtune.variants.pedirad_8k.labelcsv import LabelsCsv, Matches, match
from radtune.variants.pedirad_8k.labels import (
    DEFAULT_AGE_RANGE,
    FRACTURE_TYPES,
    LOCATIONS,
    NO_FRACTURE,
    NORMAL,
    SEXES,
    NameParts,
    age_range,
    parse_name,
)
from radtune.variants.pedirad_8k.patients import patient_key, patient_pattern

STAGE = "annotate"
AGE_TOLERANCE_MONTHS = 1
RANGE_KEY = "dataset.annotate.age_range_months"


@dataclass(frozen=True)
class Settings:
    key: str  # pseudonym key
    age_range: tuple[float, float] = DEFAULT_AGE_RANGE
    patient_pattern: re.Pattern[str] | None = None


def settings(annotate_params: DictConfig, key: str) -> Settings:
    """The stage's settings from `dataset.annotate`, read with the params rules' definitions."""
    return Settings(key, age_range(annotate_params.age_range_months), patient_pattern(annotate_params.patient_pattern))


def _number(row: Mapping[str, str], column: str, csv_name: str) -> float | None:
    text = row.get(column) or ""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{csv_name} {column} {text!r} is not a number") from None


def _out_of_range(value: float | None, what: str, where: str, bounds: tuple[float, float]) -> list[str]:
    lo, hi = bounds
    if value is None or lo <= value <= hi:
        return []
    return [f"{what} {value:g} months ({where}) is outside {RANGE_KEY} [{lo:g}, {hi:g}]"]


def _age(csv_age: float | None, name: NameParts, record: Record) -> tuple[float | None, str]:
    """The age and where it comes from: labels CSV > file name > header."""
    for value, where in (
        (csv_age, "labels CSV age_months"),
        (name.age_months, "file name"),
        (record.get("header_age_months"), "(0010,1010) Patient's Age"),
    ):
        if value is not None:
            return value, where
    return None, ""


def _sex_problem(sex: str | None, csv_sex: str, name: NameParts, header_sex: str | None) -> list[str]:
    if sex in SEXES:
        return []
    if csv_sex:
        return [f"labels CSV sex {csv_sex!r} is not M or F"]
    if "sex" in name.problems:
        return [f"file name: {name.problems['sex']}"]
    if header_sex:
        return [f"(0010,0040) Patient's Sex {header_sex!r} is not M or F (give sex in the labels CSV)"]
    return ["no sex (file name, labels CSV sex or (0010,0040) Patient's Sex)"]


def _fracture_problem(ftype: str | None, location: str | None, row: Mapping[str, str], name: NameParts) -> list[str]:
    hint = "add fracture_type/location to the labels CSV"
    if ftype == NO_FRACTURE:
        return []
    if ftype not in FRACTURE_TYPES:
        if row.get("fracture_type"):
            return [f"labels CSV fracture_type {ftype!r} unknown (known: {NORMAL}, {', '.join(FRACTURE_TYPES)})"]
        why = name.problems.get("fracture_type") or name.problems.get("location") or name.problems.get("name")
        return [f"file name: {why}" if name.follows else f"no fracture label ({why}; {hint})"]
    if location in LOCATIONS:
        return []
    if row.get("location"):
        return [f"labels CSV location {location!r} unknown (known: {', '.join(LOCATIONS)})"]
    why = name.problems.get("location") or f"no location for fracture type {ftype!r}"
    return [f"file name: {why}" if name.follows else f"{why} ({hint})"]


def _header_flags(name: NameParts, record: Record) -> list[str]:
    flags = []
    if name.sex and record.get("header_sex") in SEXES and record["header_sex"] != name.sex:
        flags.append(f"sex: file name {name.sex}, header (0010,0040) {record['header_sex']}")
    header_age = record.get("header_age_months")
    if name.age_months is not None and header_age is not None:
        if abs(header_age - name.age_months) > AGE_TOLERANCE_MONTHS:
            flags.append(f"age: file name {name.age_months} months, header {header_age} months")
    return flags


def _patient(record: Record, csv_patient_id: str | None, s: Settings) -> dict:
    """patient_id (+ its source) when the labels CSV or `patient_pattern` sets it; {} keeps
    normalize's (header PatientID, else the file's own content hash). The order is
    `patients`' (ValueError: a pattern is set and a file without an id does not match it)."""
    if csv_patient_id:
        return {"patient_id": pseudonym(f"id:{csv_patient_id}", s.key), "patient_id_source": "csv"}
    if s.patient_pattern is None or record.get("patient_id_source") == "header":
        return {}
    key = patient_key(record["source"], s.patient_pattern)
    return {"patient_id": pseudonym(f"id:{key}", s.key), "patient_id_source": "pattern"}


def label_record(record: Record, row: Mapping[str, str], s: Settings, csv_name: str = "labels CSV") -> Record:
    """The record with its labels, or rejected with the reasons (naming the file and part)."""
    source = record["source"]
    name = parse_name(source)
    try:
        csv_age = _number(row, "age_months", csv_name)
        bone_age = _number(row, "bone_age_months", csv_name)
    except ValueError as e:
        return reject(record, STAGE, f"{source}: {e}")

    age, age_from = _age(csv_age, name, record)
    sex = row.get("sex") or name.sex or record.get("header_sex")
    ftype = row.get("fracture_type") or name.fracture_type
    location = row.get("location") or name.location
    if ftype in (NO_FRACTURE, NORMAL):
        ftype, location = NO_FRACTURE, location or NO_FRACTURE

    problems = []
    if age is None:
        why = name.problems.get("age_months")
        problems.append(
            f"file name: {why}" if why else "no age (file name, labels CSV age_months or (0010,1010) Patient's Age)"
        )
    problems += _sex_problem(sex, row.get("sex") or "", name, record.get("header_sex"))
    problems += _fracture_problem(ftype, location, row, name)
    problems += _out_of_range(age, "age", age_from, s.age_range)
    problems += _out_of_range(bone_age, "bone_age_months", csv_name, s.age_range)
    if not problems:
        try:
            patient = _patient(record, row.get("patient_id"), s)
        except ValueError as e:
            problems.append(str(e))
    if problems:
        return reject(record, STAGE, f"{source}: " + "; ".join(problems))

    return {
        **record,
        "age_months": int(round(age)),
        "sex": sex,
        "fracture": ftype != NO_FRACTURE,
        "fracture_type": ftype,
        "location": location if ftype != NO_FRACTURE else NO_FRACTURE,
        "bone_age_months": None if bone_age is None else round(bone_age, 1),
        "clinical_context": row.get("clinical_context", ""),
        "label_source": "+".join(src for src, used in (("filename", name.follows), ("csv", row)) if used) or "header",
        "label_flags": _header_flags(name, record),
        **patient,
    }


def annotate(
    records: list[Record], labels: LabelsCsv | None, s: Settings, digests: Mapping[str, str]
) -> tuple[list[Record], Matches]:
    """Every record labelled (or rejected), and how the labels CSV matched the inputs.
    `digests`: image_id -> digest of its normalized image (`conflicts.image_digests`)."""
    matches = match(labels or LabelsCsv("labels CSV"), [r["source"] for r in records])
    csv_name = labels.name if labels else "labels CSV"
    out = []
    for r in records:
        if not is_ok(r):
            out.append(r)
        elif r["source"] in matches.conflicts:
            out.append(reject(r, STAGE, f"{r['source']}: {matches.conflicts[r['source']]}"))
        else:
            out.append(label_record(r, matches.row_of.get(r["source"], {}), s, csv_name))
    return hold_out_conflicts(out, digests), matches
