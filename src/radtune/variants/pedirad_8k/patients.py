"""Which images belong to one patient: the unit of the patient-level split.

Strongest first:
1. `patient_id` in the labels CSV;
2. (0010,0020) Patient ID in a DICOM header (set by normalize);
3. `dataset.annotate.patient_pattern`: a regular expression searched in the file name
   whose first group is the patient key (e.g. `^(child\\d+)_` groups `child07_pa.png`
   and `child07_lat.png`);
4. otherwise the file is its own patient, keyed by its content hash (normalize): two
   JPG/PNG views of one child can then land in different splits.
1-3 share one namespace, so the same id from a CSV, a header or a name is one patient.
Every id becomes a keyed-hash pseudonym. normalize sets 2 and 4, annotate (`_patient`)
applies 1 and 3. This module imports nothing of radtune: the params rules use it before
any stage runs (and dvc.yaml lists no more shared modules for that)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

KEY = "dataset.annotate.patient_pattern"


def patient_pattern(value: object) -> re.Pattern[str] | None:
    """`dataset.annotate.patient_pattern` compiled (None: no pattern); ValueError says what
    is wrong. The params rule and the annotate stage both read the setting through here."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"must be null or a regular expression, got {value!r}")
    try:
        compiled = re.compile(value)
    except re.error as e:
        raise ValueError(f"{value!r} is not a regular expression ({e})") from None
    if compiled.groups < 1:
        raise ValueError(f"{value!r} has no group: its first group (...) is the patient key")
    return compiled


def is_patient_pattern(value: object) -> bool:
    try:
        patient_pattern(value)
    except ValueError:
        return False
    return True


def patient_key(source: str, pattern: re.Pattern[str]) -> str:
    """The patient key `pattern` finds in the file name of `source` (a path relative to the
    raw folder); ValueError when it does not match."""
    m = pattern.search(PurePosixPath(source).name)
    if not m or not m.group(1):
        missing = "no patient id (header or labels CSV patient_id)"
        raise ValueError(f"{missing} and the file name does not match {KEY} '{pattern.pattern}'")
    return m.group(1)
