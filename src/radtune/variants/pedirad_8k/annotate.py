"""The annotate stage's library: labels for every normalized image.

Sources, strongest first: the labels CSV (optional; columns `filename` plus any of
bone_age_months, clinical_context, age_months, sex, fracture_type, location, patient_id),
the file-name convention (`radtune.labels`), the DICOM header (sex, age). Disagreements
between the file name and the header are flagged on the record, not silently resolved."""

from __future__ import annotations

import csv
from pathlib import Path

from radtune.errors import ConfigError
from radtune.pseudonym import pseudonym
from radtune.records import Record, is_ok, reject
from radtune.variants.pedirad_8k.labels import FRACTURE_TYPES, LOCATIONS, NO_FRACTURE, SEXES, parse_filename

STAGE = "annotate"
CSV_COLUMNS = (
    "filename",
    "bone_age_months",
    "clinical_context",
    "age_months",
    "sex",
    "fracture_type",
    "location",
    "patient_id",
)
AGE_TOLERANCE_MONTHS = 1


def read_labels_csv(path: Path) -> dict[str, dict[str, str]]:
    """Rows keyed by `filename` (a path relative to the raw folder, or a bare file name)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        if "filename" not in columns:
            raise ConfigError(f"{path}: labels CSV needs a 'filename' column (has: {', '.join(columns)})")
        unknown = sorted(set(columns) - set(CSV_COLUMNS))
        if unknown:
            raise ConfigError(f"{path}: unknown labels CSV column(s) {unknown} (known: {', '.join(CSV_COLUMNS)})")
        return {row["filename"]: {k: (v or "").strip() for k, v in row.items()} for row in reader}


def _csv_row(rows: dict[str, dict[str, str]], source: str) -> dict[str, str]:
    return rows.get(source) or rows.get(Path(source).name) or {}


def _number(row: dict[str, str], column: str, source: str) -> float | None:
    text = row.get(column, "")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"labels CSV row {source!r}: {column} {text!r} is not a number") from None


def label_record(record: Record, row: dict[str, str], key: str) -> Record:
    """The record with its labels, or rejected with the reason labels are missing."""
    source = record["source"]
    try:
        named = parse_filename(source)
        name_error = None
    except ValueError as e:
        named, name_error = None, str(e)
    try:
        csv_age = _number(row, "age_months", source)
        bone_age = _number(row, "bone_age_months", source)
    except ValueError as e:
        return reject(record, STAGE, str(e))

    age = csv_age if csv_age is not None else (named.age_months if named else record.get("header_age_months"))
    sex = row.get("sex") or (named.sex if named else record.get("header_sex"))
    ftype = row.get("fracture_type") or (named.fracture_type if named else None)
    location = row.get("location") or (named.location if named else None)
    if ftype == NO_FRACTURE or ftype == "normal":
        ftype, location = NO_FRACTURE, location or NO_FRACTURE

    problems = []
    if age is None:
        problems.append("no age (file name, labels CSV age_months or (0010,1010) Patient's Age)")
    if sex not in SEXES:
        problems.append(f"sex {sex!r} is not M or F (file name, labels CSV sex or (0010,0040) Patient's Sex)")
    if ftype not in (*FRACTURE_TYPES, NO_FRACTURE):
        problems.append(
            f"no fracture label ({name_error or 'unknown fracture_type ' + repr(ftype)}; "
            "add fracture_type/location to the labels CSV)"
        )
    elif ftype != NO_FRACTURE and location not in LOCATIONS:
        problems.append(f"location {location!r} unknown (known: {', '.join(LOCATIONS)})")
    if problems:
        return reject(record, STAGE, f"{Path(source).name}: " + "; ".join(problems))

    flags = []
    if named and record.get("header_sex") in SEXES and record["header_sex"] != named.sex:
        flags.append(f"sex: file name {named.sex}, header (0010,0040) {record['header_sex']}")
    header_age = record.get("header_age_months")
    if named and header_age is not None and abs(header_age - named.age_months) > AGE_TOLERANCE_MONTHS:
        flags.append(f"age: file name {named.age_months} months, header {header_age} months")

    labelled = {
        **record,
        "age_months": int(round(age)),
        "sex": sex,
        "fracture": ftype != NO_FRACTURE,
        "fracture_type": ftype,
        "location": location if ftype != NO_FRACTURE else NO_FRACTURE,
        "bone_age_months": None if bone_age is None else round(bone_age, 1),
        "clinical_context": row.get("clinical_context", ""),
        "label_source": "+".join(s for s, used in (("filename", named), ("csv", row)) if used) or "header",
        "label_flags": flags,
    }
    if row.get("patient_id"):
        labelled["patient_id"] = pseudonym(f"id:{row['patient_id']}", key)
        labelled["patient_id_source"] = "csv"
    return labelled


def annotate(records: list[Record], rows: dict[str, dict[str, str]], key: str) -> list[Record]:
    return [label_record(r, _csv_row(rows, r["source"]), key) if is_ok(r) else r for r in records]
