"""The PediRad file-name convention and label vocabularies.

    patient_048m_M_buckle_distal_radius.dcm      fracture: type + location
    patient_048m_F_normal.dcm                    no fracture
    patient_048m_F_normal_0007.dcm               an optional numeric suffix disambiguates

Age is in months (3 digits + "m"), sex is M or F.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

FRACTURE_TYPES = ("buckle", "greenstick", "transverse", "salter_harris_ii", "oblique")
LOCATIONS = ("distal_radius", "distal_ulna", "radial_shaft", "ulnar_shaft")
NO_FRACTURE = "none"  # fracture_type and location of a normal study
SEXES = ("M", "F")

_NAME = re.compile(r"^patient_(?P<age>\d{1,3})m_(?P<sex>[MF])_(?P<rest>[a-z_]+?)(?:_(?P<suffix>\d+))?$")


@dataclass(frozen=True)
class FileLabels:
    age_months: int
    sex: str
    fracture: bool
    fracture_type: str  # one of FRACTURE_TYPES, or NO_FRACTURE
    location: str  # one of LOCATIONS, or NO_FRACTURE


def parse_filename(name: str) -> FileLabels:
    """Labels from a file name in the convention; ValueError names what does not fit."""
    stem = PurePath(name).name.split(".", 1)[0]
    m = _NAME.match(stem)
    if not m:
        raise ValueError(f"file name {stem!r} does not follow patient_<age>m_<M|F>_<type>_<location>")
    rest = m["rest"]
    if rest == "normal":
        ftype, loc = NO_FRACTURE, NO_FRACTURE
    else:
        ftype = next((t for t in FRACTURE_TYPES if rest.startswith(t + "_")), None)
        if ftype is None:
            raise ValueError(f"file name {stem!r}: unknown fracture type (known: normal, {', '.join(FRACTURE_TYPES)})")
        loc = rest[len(ftype) + 1 :]
        if loc not in LOCATIONS:
            raise ValueError(f"file name {stem!r}: unknown location {loc!r} (known: {', '.join(LOCATIONS)})")
    return FileLabels(int(m["age"]), m["sex"], ftype != NO_FRACTURE, ftype, loc)


def format_filename(labels: FileLabels, suffix: int | None = None, ext: str = ".dcm") -> str:
    body = "normal" if not labels.fracture else f"{labels.fracture_type}_{labels.location}"
    tail = "" if suffix is None else f"_{suffix:04d}"
    return f"patient_{labels.age_months:03d}m_{labels.sex}_{body}{tail}{ext}"
