"""Reading and checking the pedirad_custom annotation files (seed 001).

The raw folder holds one folder per task (`bone_age/`, `rop_screening/`, `fractures/`) and
JSON annotation files, each an array of records, in any of these places:

    <raw>/<task>/{split}_annotations.json          <raw>/<task>/annotations.json
    <raw>/annotations/<task>/{split}_annotations.json   (or annotations.json there)
    <raw>/annotations/<task>_{split}_annotations.json   <raw>/annotations/<task>_annotations.json

A record names its image by `image_path` (relative to the task folder) or `image_id` (the
file stem, resolved among the task folder's images). Every record ends up either clean
(values normalised, plus `task`, `split`, `source`) or rejected with one line naming the
file (relative to raw), the record index and image, and the field at fault. A file that is
not a JSON array is rejected as a whole with one line; a JSON file in an annotation place
whose name is not one of the above is reported too. Images no record references are
listed by `unreferenced_images`, so every input is accounted for.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from radtune.errors import InputRejected
from radtune.io import read_json
from radtune.records import SPLITS

from .tasks import STAGES, TASKS

ANNOTATIONS_DIR = "annotations"
IMAGE_SUFFIXES = frozenset({".dcm", ".dicom", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})

AGE_RANGE_MONTHS = (0.0, 228.0)
PMA_RANGE_WEEKS = (20.0, 70.0)
SEXES = ("M", "F")
NO_FRACTURE = "none"

_SPLIT_FILE = re.compile(r"^(?P<split>[A-Za-z0-9-]+)_annotations\.json$")
_PLAIN_FILE = "annotations.json"
_ZONE_WORDS = {"i": "I", "ii": "II", "iii": "III", "1": "I", "2": "II", "3": "III"}
_SEX_WORDS = {"m": "M", "male": "M", "f": "F", "female": "F"}
_TRUE = {"true", "yes"}
_FALSE = {"false", "no"}

# The fields of a clean record per task (absent optional ones are None), after the common ones.
TASK_FIELDS = {
    "bone_age": ("bone_age_months", "age_months", "sex"),
    "rop_screening": ("zone", "stage", "plus_disease", "age_months", "postmenstrual_age_weeks", "sex"),
    "fractures": ("fracture", "fracture_type", "location", "age_months", "sex", "clinical_context"),
}


@dataclass(frozen=True)
class AnnotationFile:
    task: str
    split: str | None  # None: the file name gives no split
    path: Path  # raw / label

    def label(self, raw: Path) -> str:
        """The file as the user knows it: relative to the raw folder, with forward slashes."""
        return self.path.relative_to(raw).as_posix()


class ImageSet(frozenset):
    """The image files of one task folder (paths relative to it), indexed by stem and name."""

    @cached_property
    def by_stem(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = defaultdict(list)
        for rel in sorted(self):
            p = PurePosixPath(rel)
            index[p.stem].append(rel)
            index[p.name].append(rel)
        return dict(index)


@dataclass
class Annotations:
    """Everything read from one raw folder; `counts` add up (see `check_counts`)."""

    records: list[dict] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)  # per file: label, task, split, records, clean, rejected
    unlabelled: list[str] = field(default_factory=list)  # images (relative to raw) no record names
    rejected_only: list[str] = field(default_factory=list)  # images named only by rejected records
    images: int = 0  # image files in the task folders
    refused: dict[str, str] = field(default_factory=dict)  # image (relative to raw) -> why its record was rejected

    @property
    def counts(self) -> dict[str, int]:
        return {
            "files": len(self.files),
            "files_rejected": sum(1 for f in self.files if f["file_rejected"]),
            "stray_files": sum(1 for f in self.files if f["task"] is None),
            "records": sum(f["records"] for f in self.files),
            "clean": len(self.records),
            "rejected": sum(f["rejected"] for f in self.files),
            "images": self.images,
            "labelled_images": len({r["source"] for r in self.records}),
            "rejected_only_images": len(self.rejected_only),
            "unlabelled_images": len(self.unlabelled),
        }


# ---------------------------------------------------------------- finding files and images


def _split_name(name: str) -> tuple[bool, str | None]:
    """(matches, split) for a file name inside a task's annotation place."""
    if name == _PLAIN_FILE:
        return True, None
    m = _SPLIT_FILE.match(name)
    return (True, m["split"].lower()) if m else (False, None)


def _root_name(name: str) -> tuple[str | None, str | None]:
    """(task, split) for a file name directly under <raw>/annotations/; task None: no match."""
    for task in TASKS:
        if name.startswith(task + "_"):
            ok, split = _split_name(name[len(task) + 1 :])
            if ok:
                return task, split
    return None, None


def _candidates(raw: Path) -> tuple[list[AnnotationFile], list[Path]]:
    found: list[AnnotationFile] = []
    stray: list[Path] = []
    places = [(raw / task, task) for task in TASKS] + [(raw / ANNOTATIONS_DIR / task, task) for task in TASKS]
    for folder, task in places:
        if not folder.is_dir():
            continue
        for p in sorted(folder.glob("*.json")):
            ok, split = _split_name(p.name)
            if ok:
                found.append(AnnotationFile(task, split, p))
            elif folder.parent.name == ANNOTATIONS_DIR and folder.parent.parent == raw:
                stray.append(p)
    root = raw / ANNOTATIONS_DIR
    if root.is_dir():
        for p in sorted(root.glob("*.json")):
            task, split = _root_name(p.name)
            if task is None:
                stray.append(p)
            else:
                found.append(AnnotationFile(task, split, p))
    return found, stray


def _order(f: AnnotationFile) -> tuple:
    if f.split is None:
        split_rank = (2, "")
    elif f.split in SPLITS:
        split_rank = (0, f"{SPLITS.index(f.split):03d}")
    else:
        split_rank = (1, f.split)
    return (TASKS.index(f.task), split_rank, f.path.as_posix())


def find_annotation_files(raw: Path) -> list[AnnotationFile]:
    """The annotation files under `raw`, ordered by task (TASKS), split (train, val, test,
    others by name, then files without a split) and path. Two files for the same task and
    split raise InputRejected naming both."""
    raw = Path(raw)
    found, _ = _candidates(raw)
    seen: dict[tuple[str, str | None], AnnotationFile] = {}
    for f in sorted(found, key=_order):
        key = (f.task, f.split)
        if key in seen:
            split = f"{f.split} split" if f.split else "split-less"
            raise InputRejected(
                f"{seen[key].label(raw)} and {f.label(raw)}: both give the {f.task} {split} annotations; "
                "keep one of them (or merge them into one file)"
            )
        seen[key] = f
    return sorted(seen.values(), key=_order)


def stray_annotation_files(raw: Path) -> list[str]:
    """JSON files in an annotation place whose name matches no supported pattern (relative to raw)."""
    raw = Path(raw)
    return [p.relative_to(raw).as_posix() for p in _candidates(raw)[1]]


def task_images(raw: Path, task: str) -> ImageSet:
    """Image files under <raw>/<task>/ (any depth, hidden files skipped), relative to it."""
    folder = Path(raw) / task
    if not folder.is_dir():
        return ImageSet()
    rels = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not any(s.startswith(".") for s in rel.parts):
            rels.append(rel.as_posix())
    return ImageSet(rels)


def unreferenced_images(raw: Path, records: Iterable[Mapping[str, Any] | str]) -> list[str]:
    """Images in the task folders (relative to raw, sorted) that none of `records` names;
    `records` are clean records (their `source`) or sources as strings."""
    named = {r if isinstance(r, str) else r["source"] for r in records}
    out = []
    for task in TASKS:
        out += [f"{task}/{rel}" for rel in sorted(task_images(raw, task)) if f"{task}/{rel}" not in named]
    return out


# ---------------------------------------------------------------- values


class _Bad(Exception):
    """One field's problem: `field: message`."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    """A value as the user wrote it in JSON ('IV', -4, true, null)."""
    if isinstance(value, str):
        return repr(value)
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _number(rec: Mapping, key: str, lo: float, hi: float, unit: str, *, required: bool) -> float | None:
    value = rec.get(key)
    if value is None:
        if required:
            raise _Bad(key, f"missing (a number of {unit} within {lo:g}..{hi:g})")
        return None
    number = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise _Bad(key, f"must be a number of {unit}, got {_shown(value)}")
    if not lo <= number <= hi:
        raise _Bad(key, f"must be within {lo:g}..{hi:g} {unit}, got {_shown(value)}")
    return number


def _sex(rec: Mapping, *, required: bool) -> str | None:
    value = rec.get("sex")
    if value is None:
        if required:
            raise _Bad("sex", "missing (M or F)")
        return None
    sex = _SEX_WORDS.get(value.strip().lower()) if isinstance(value, str) else None
    if sex is None:
        raise _Bad("sex", f"must be M or F (or male/female), got {_shown(value)}")
    return sex


def _bool(rec: Mapping, key: str) -> bool:
    value = rec.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if value is None:
        raise _Bad(key, "missing (true or false)")
    raise _Bad(key, f"must be true or false (or 'yes'/'no'), got {_shown(value)}")


def _stage(rec: Mapping) -> int:
    value = rec.get("stage")
    if value is None:
        raise _Bad("stage", "missing (an integer 0..5)")
    stage = None
    if isinstance(value, int) and not isinstance(value, bool):
        stage = value
    elif isinstance(value, float) and value.is_integer():
        stage = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        stage = int(value.strip())
    if stage not in STAGES:
        raise _Bad("stage", f"must be an integer 0..5, got {_shown(value)}")
    return stage


def _zone(rec: Mapping, stage: int | None) -> str | None:
    value = rec.get("zone")
    if value is None or (isinstance(value, str) and not value.strip()):
        if stage == 0:
            return None
        raise _Bad("zone", f"missing (I, II or III; may be absent only when stage is 0, stage is {_shown(stage)})")
    zone = None
    if isinstance(value, int) and not isinstance(value, bool):
        zone = _ZONE_WORDS.get(str(value))
    elif isinstance(value, str):
        word = value.strip().lower()
        word = word[len("zone") :].strip() if word.startswith("zone") else word
        zone = _ZONE_WORDS.get(word)
    if zone is None:
        raise _Bad("zone", f"must be I, II or III, got {_shown(value)}")
    return zone


def _text(rec: Mapping, key: str, *, required: bool, lower: bool = False) -> str | None:
    value = rec.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _Bad(key, "missing (a non-empty string)")
        return None
    if not isinstance(value, str):
        raise _Bad(key, f"must be a string, got {_shown(value)}")
    text = " ".join(value.split())
    return text.lower() if lower else text


def _patient_id(rec: Mapping) -> str | None:
    value = rec.get("patient_id")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    raise _Bad("patient_id", f"must be a string or integer, got {_shown(value)}")


def _collect(problems: list[str], fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except _Bad as e:
        problems.append(str(e))
        return None


def _bone_age_fields(rec: Mapping, problems: list[str]) -> dict:
    return {
        "bone_age_months": _collect(
            problems, _number, rec, "bone_age_months", *AGE_RANGE_MONTHS, "months", required=True
        ),
        "age_months": _collect(problems, _number, rec, "age_months", *AGE_RANGE_MONTHS, "months", required=True),
        "sex": _collect(problems, _sex, rec, required=True),
    }


def _rop_fields(rec: Mapping, problems: list[str]) -> dict:
    stage = _collect(problems, _stage, rec)
    return {
        # an absent zone is judged only once the stage is known (a bad stage is reported already)
        "zone": _collect(problems, _zone, rec, stage) if stage is not None or rec.get("zone") is not None else None,
        "stage": stage,
        "plus_disease": _collect(problems, _bool, rec, "plus_disease"),
        "age_months": _collect(problems, _number, rec, "age_months", *AGE_RANGE_MONTHS, "months", required=False),
        "postmenstrual_age_weeks": _collect(
            problems, _number, rec, "postmenstrual_age_weeks", *PMA_RANGE_WEEKS, "weeks", required=False
        ),
        "sex": _collect(problems, _sex, rec, required=False),
    }


def _fracture_fields(rec: Mapping, problems: list[str]) -> dict:
    fracture = _collect(problems, _bool, rec, "fracture")
    out = {"fracture": fracture}
    for key in ("fracture_type", "location"):
        # absent means "none" for a normal study; a fracture must name both
        before = len(problems)
        value = _collect(problems, _text, rec, key, required=fracture is True, lower=True)
        if fracture is False and value is None and len(problems) == before:
            value = NO_FRACTURE
        if fracture is True and value == NO_FRACTURE:
            problems.append(f"{key}: must name the fracture when fracture is true, got {_shown(rec.get(key))}")
        elif fracture is False and value is not None and value != NO_FRACTURE:
            problems.append(f"{key}: must be 'none' when fracture is false, got {_shown(rec.get(key))}")
        out[key] = value
    out["age_months"] = _collect(problems, _number, rec, "age_months", *AGE_RANGE_MONTHS, "months", required=False)
    out["sex"] = _collect(problems, _sex, rec, required=False)
    out["clinical_context"] = _collect(problems, _text, rec, "clinical_context", required=False)
    return out


_TASK_CHECKS = {"bone_age": _bone_age_fields, "rop_screening": _rop_fields, "fractures": _fracture_fields}


# ---------------------------------------------------------------- images


def _clean_path(value: str) -> str | None:
    """The path normalised to forward slashes without './'; None when absolute or escaping."""
    text = value.strip().replace("\\", "/")
    p = PurePosixPath(text)
    if not text or p.is_absolute() or ".." in p.parts or re.match(r"^[A-Za-z]:", text):
        return None
    return p.as_posix()


def _resolve_image(task: str, rec: Mapping, images: Collection[str], split: str | None) -> str:
    """The image's path relative to the task folder, or _Bad naming image_path/image_id."""
    path, image_id = rec.get("image_path"), rec.get("image_id")
    if path is None and image_id is None:
        raise _Bad("image_path", "missing (give image_path, relative to the task folder, or image_id)")
    if path is not None:
        if not isinstance(path, str):
            raise _Bad("image_path", f"must be a string, got {_shown(path)}")
        rel = _clean_path(path)
        if rel is None:
            raise _Bad("image_path", f"must be a path relative to the {task}/ folder, got {_shown(path)}")
        if rel not in images and rel.startswith(task + "/") and rel[len(task) + 1 :] in images:
            rel = rel[len(task) + 1 :]  # given relative to raw rather than to the task folder
        if rel not in images:
            raise _Bad("image_path", f"file not found: {rel}")
        if image_id is not None and str(image_id).strip() not in (PurePosixPath(rel).stem, PurePosixPath(rel).name):
            raise _Bad("image_id", f"{_shown(image_id)} does not match image_path {rel!r}")
        return rel
    if not isinstance(image_id, str | int) or isinstance(image_id, bool) or not str(image_id).strip():
        raise _Bad("image_id", f"must be a non-empty string, got {_shown(image_id)}")
    key = str(image_id).strip()
    index = images.by_stem if isinstance(images, ImageSet) else ImageSet(images).by_stem
    matches = index.get(key, [])
    if len(matches) > 1 and split is not None:
        in_split = [m for m in matches if PurePosixPath(m).parts[0] == split]
        matches = in_split or matches
    if not matches:
        raise _Bad("image_id", f"no image file named {key!r} (stem) in {task}/")
    if len(matches) > 1:
        raise _Bad("image_id", f"{key!r} is ambiguous: {', '.join(matches)}; give image_path instead")
    return matches[0]


# ---------------------------------------------------------------- records


def _where(file_label: str, index: int, rec: Any) -> str:
    image = None
    if isinstance(rec, Mapping):
        image = rec.get("image_path") if rec.get("image_path") is not None else rec.get("image_id")
    return f"{file_label}[{index}]" + (f" ({image})" if image is not None else "")


def validate_record(
    task: str,
    record: Any,
    *,
    file_label: str,
    index: int,
    task_dir: Path | str | None = None,
    images: Collection[str],
    split: str | None = None,
) -> tuple[dict | None, str | None]:
    """(clean record, None) or (None, one-line reason naming the file, record and field).

    `images` are the image paths relative to the task folder (an ImageSet resolves image_id
    faster); `task_dir` only names the folder (its last part is the task's folder name).
    A clean record carries the normalised fields of TASK_FIELDS[task] plus `task`, `split`,
    `source` (the image relative to raw), `image` (relative to the task folder),
    `patient_id`, and `annotation` (file[index]) for tracing."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    where = _where(file_label, index, record)
    if not isinstance(record, Mapping):
        return None, f"{where}: record: must be a JSON object, got a {_json_type(record)}: {_shown(record)[:60]}"
    folder = Path(task_dir).name if task_dir is not None else task
    problems: list[str] = []
    rel = _collect(problems, _resolve_image, task, record, images, split)
    if rel is not None and split is not None:
        top = PurePosixPath(rel).parts[0]
        if top in SPLITS and top != split and len(PurePosixPath(rel).parts) > 1:
            problems.append(f"image_path: {rel} lies in the {top}/ folder but is listed in the {split} annotations")
    patient = _collect(problems, _patient_id, record)
    fields = _TASK_CHECKS[task](record, problems)
    if problems:
        return None, f"{where}: " + "; ".join(problems)
    clean = {
        "task": task,
        "split": split,
        "source": f"{folder}/{rel}",
        "image": rel,
        "patient_id": patient,
        "annotation": f"{file_label}[{index}]",
    }
    clean.update(fields)
    return clean, None


def _read_array(f: AnnotationFile, label: str) -> tuple[list | None, str | None]:
    try:
        data = read_json(f.path)
    except json.JSONDecodeError as e:
        return None, f"{label}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); none of its records read"
    except UnicodeDecodeError as e:
        return None, f"{label}: not UTF-8 text ({e.reason} at byte {e.start}); none of its records read"
    except OSError as e:
        return None, f"{label}: cannot be read ({e.strerror or e}); none of its records read"
    if not isinstance(data, list):
        return None, f"{label}: must be a JSON array of records, got a JSON {_json_type(data)}; none read"
    return data, None


def load_annotations(raw: Path) -> Annotations:
    """Every annotation file under `raw` read and checked (see the module docstring).
    Raises InputRejected only when two files give the same task and split."""
    raw = Path(raw)
    out = Annotations()
    images = {task: task_images(raw, task) for task in TASKS}
    out.images = sum(len(v) for v in images.values())
    first_use: dict[str, str] = {}  # source -> "file[index]" that labelled it first
    referenced: set[str] = set()
    for f in find_annotation_files(raw):
        label = f.label(raw)
        counts = {"label": label, "task": f.task, "split": f.split, "records": 0, "clean": 0, "rejected": 0}
        data, problem = _read_array(f, label)
        counts["file_rejected"] = problem is not None
        out.files.append(counts)
        if problem is not None:
            out.rejected.append(problem)
            continue
        for i, rec in enumerate(data):
            counts["records"] += 1
            clean, reason = validate_record(
                f.task, rec, file_label=label, index=i, task_dir=raw / f.task, images=images[f.task], split=f.split
            )
            if clean is not None:
                referenced.add(clean["source"])
                earlier = first_use.get(clean["source"])
                if earlier is not None:
                    reason = (
                        f"{_where(label, i, rec)}: image_path: duplicate, {clean['source']} is already labelled "
                        f"by {earlier}; keep one record per image"
                    )
                    clean = None
                else:
                    first_use[clean["source"]] = f"{label}[{i}]"
            elif isinstance(rec, Mapping):
                for source in _named_sources(f.task, rec, images[f.task], f.split):
                    referenced.add(source)
                    out.refused.setdefault(source, reason)
            if clean is not None:
                counts["clean"] += 1
                out.records.append(clean)
            else:
                counts["rejected"] += 1
                out.rejected.append(reason)
    for path in stray_annotation_files(raw):
        out.files.append(
            {"label": path, "task": None, "split": None, "records": 0, "clean": 0, "rejected": 0, "file_rejected": True}
        )
        out.rejected.append(
            f"{path}: not a recognised annotation file name (use <task>_<split>_annotations.json or "
            f"<task>/<split>_annotations.json, task one of {', '.join(TASKS)}); not read"
        )
    out.unlabelled = unreferenced_images(raw, referenced)
    out.rejected_only = sorted(referenced - set(first_use))
    return out


def _named_sources(task: str, rec: Mapping, images: Collection[str], split: str | None) -> set[str]:
    """The image a rejected record names, when it names one that exists (so it is not also
    counted as unlabelled)."""
    try:
        return {f"{task}/{_resolve_image(task, rec, images, split)}"}
    except _Bad:
        return set()


def read_annotations(raw: Path) -> tuple[list[dict], list[str]]:
    """(clean records, rejection lines), in file order then record order."""
    a = load_annotations(raw)
    return a.records, a.rejected


def check_counts(a: Annotations) -> None:
    """Raise ValueError when the counts do not add up: every record clean or rejected, one
    line per rejected record or file, every image labelled, named only by rejected records,
    or unlabelled."""
    c = a.counts
    sums = {
        "records = clean + rejected": c["records"] == c["clean"] + c["rejected"],
        "lines = rejected + files_rejected": len(a.rejected) == c["rejected"] + c["files_rejected"],
        "labelled images = clean": c["labelled_images"] == c["clean"],
        "images = labelled + rejected-only + unlabelled": c["images"]
        == c["labelled_images"] + c["rejected_only_images"] + c["unlabelled_images"],
    }
    wrong = [k for k, ok in sums.items() if not ok]
    if wrong:
        raise ValueError(f"annotation counts do not add up ({', '.join(wrong)}): {c}")
