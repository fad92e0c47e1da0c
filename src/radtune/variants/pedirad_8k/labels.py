"""The PediRad file-name convention, label vocabularies and the age range.

    patient_048m_M_buckle_distal_radius.dcm      fracture: type + location
    patient_048m_F_normal.dcm                    no fracture
    patient_048m_F_normal_0007.dcm               an optional numeric suffix disambiguates

Age is in months (1-3 digits + "m"), sex is M or F. A name is read part by part, so a
wrong part is named on its own (`unknown fracture type 'spiral'`) and the parts that are
right (age, sex) still count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

FRACTURE_TYPES = ("buckle", "greenstick", "transverse", "salter_harris_ii", "oblique")
LOCATIONS = ("distal_radius", "distal_ulna", "radial_shaft", "ulnar_shaft")
NO_FRACTURE = "none"  # fracture_type and location of a normal study
NORMAL = "normal"  # how a file name (or the labels CSV) says "no fracture"
SEXES = ("M", "F")
CONVENTION = "patient_<age>m_<M|F>_<type>_<location>"

_AGE = re.compile(r"^(\d{1,3})m$")
_SUFFIX = re.compile(r"^\d+$")


@dataclass(frozen=True)
class FileLabels:
    age_months: int
    sex: str
    fracture: bool
    fracture_type: str  # one of FRACTURE_TYPES, or NO_FRACTURE
    location: str  # one of LOCATIONS, or NO_FRACTURE


@dataclass(frozen=True)
class NameParts:
    """What a file name says, part by part: a part that does not fit is None and its
    problem is in `problems` (field -> message). `follows` is False for a name outside the
    convention altogether (then every part is None)."""

    follows: bool
    age_months: int | None = None
    sex: str | None = None
    fracture_type: str | None = None  # one of FRACTURE_TYPES, or NO_FRACTURE
    location: str | None = None  # one of LOCATIONS, or NO_FRACTURE
    problems: dict[str, str] = field(default_factory=dict)


def _known(what: str, names: Sequence[str]) -> str:
    return f"(known {what}: {', '.join(names)})"


def _type_and_location(rest: list[str]) -> tuple[str | None, str | None, dict[str, str]]:
    """Fracture type and location from the name parts after the sex (suffix removed)."""
    if rest == [NORMAL]:
        return NO_FRACTURE, NO_FRACTURE, {}
    if rest and rest[0] == NORMAL:
        return None, None, {"location": f"'normal' takes no location, got {'_'.join(rest[1:])!r}"}
    text = "_".join(rest)
    if not text:
        return None, None, {"fracture_type": f"no fracture type {_known('types', (NORMAL, *FRACTURE_TYPES))}"}
    ftype = next((t for t in FRACTURE_TYPES if text == t or text.startswith(t + "_")), None)
    if ftype is None:
        loc = next((c for c in LOCATIONS if text.endswith("_" + c)), None)
        part = text[: -len(loc) - 1] if loc else rest[0]
        problem = f"unknown fracture type {part!r} {_known('types', (NORMAL, *FRACTURE_TYPES))}"
        return None, loc, {"fracture_type": problem}
    loc = text[len(ftype) + 1 :]
    if not loc:
        return ftype, None, {"location": f"fracture type {ftype!r} needs a location {_known('locations', LOCATIONS)}"}
    if loc not in LOCATIONS:
        return ftype, None, {"location": f"unknown location {loc!r} {_known('locations', LOCATIONS)}"}
    return ftype, loc, {}


def parse_name(name: str) -> NameParts:
    """The labels a file name gives, part by part (see NameParts)."""
    stem = PurePath(name).name.split(".", 1)[0]
    parts = stem.split("_")
    if parts[0] != "patient" or len(parts) < 2:
        return NameParts(False, problems={"name": f"file name {stem!r} does not follow {CONVENTION}"})
    problems: dict[str, str] = {}
    age = _AGE.match(parts[1])
    if not age:
        problems["age_months"] = f"age part {parts[1]!r} is not <months>m (e.g. 048m)"
    sex = parts[2] if len(parts) > 2 else None
    if sex not in SEXES:
        problems["sex"] = f"sex part {sex!r} is not M or F" if sex is not None else "no sex part (M or F)"
        sex = None
    rest = parts[3:]
    if len(rest) > 1 and _SUFFIX.match(rest[-1]):
        rest = rest[:-1]
    ftype, loc, more = _type_and_location(rest)
    return NameParts(True, int(age[1]) if age else None, sex, ftype, loc, {**problems, **more})


def parse_filename(name: str) -> FileLabels:
    """Labels from a file name in the convention; ValueError names the first part that does
    not fit."""
    n = parse_name(name)
    if n.problems:
        stem = PurePath(name).name.split(".", 1)[0]
        first = next(iter(n.problems.values()))
        raise ValueError(first if first.startswith("file name") else f"file name {stem!r}: {first}")
    assert n.age_months is not None and n.sex and n.fracture_type and n.location
    return FileLabels(n.age_months, n.sex, n.fracture_type != NO_FRACTURE, n.fracture_type, n.location)


def format_filename(labels: FileLabels, suffix: int | None = None, ext: str = ".dcm") -> str:
    body = NORMAL if not labels.fracture else f"{labels.fracture_type}_{labels.location}"
    tail = "" if suffix is None else f"_{suffix:04d}"
    return f"patient_{labels.age_months:03d}m_{labels.sex}_{body}{tail}{ext}"


# ----------------------------------------------------------------------------- age range

#: `dataset.annotate.age_range_months`: the paediatric default (0 to 19 years)
DEFAULT_AGE_RANGE = (0, 228)


def age_range(value: object) -> tuple[float, float]:
    """`dataset.annotate.age_range_months` as (min, max): a list of two numbers with
    0 <= min < max; ValueError says what is wrong. The params rule and the annotate stage
    both read the setting through this function."""
    items = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else None  # list, ListConfig
    ok = (
        items is not None
        and len(items) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items)
        and 0 <= items[0] < items[1]
    )
    if not ok:
        raise ValueError(f"must be [min, max] months with 0 <= min < max, got {value!r}")
    return float(items[0]), float(items[1])


def is_age_range(value: object) -> bool:
    try:
        age_range(value)
    except ValueError:
        return False
    return True
