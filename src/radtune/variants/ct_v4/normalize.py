"""normalize for ct_v4: DICOM slice -> PNG (brain window, or the three-window RGB stack).

Windowing is radtune's (``render.render_file`` / ``pixels.display``): this module only
picks the windows and stacks them. Every input gets a record (``radtune.records``
conventions: status ok/rejected, stage, reason) keyed by ``source`` = ``<origin>/<path>``;
the PNG (kept in the stage's image shards, `radtune.shards`) is ``<image_id>.png`` where
image_id is a keyed-hash pseudonym of the source, and the patient is the pseudonym of the
DICOM header's PatientID.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from radtune import imaging, pixels
from radtune.errors import ConfigError, InputRejected
from radtune.executor import describe
from radtune.pseudonym import pseudonym
from radtune.records import Record, reject
from radtune.render import render_file
from radtune.shards import RecordImage
from radtune.variants.ct_v4.constants import MODES

STAGE = "normalize"
#: the three-window stack hemorrhage models commonly use, as R, G, B
RGB3_WINDOWS = ("brain", "subdural", "bone")


def render_slice(path: Path, *, mode: str, window: str, size: int):
    """(uint8 image, Rendered of the first channel). ``gray``: ``window``; ``rgb3``: the
    brain, subdural and bone presets as R, G, B."""
    if mode not in MODES:
        raise ConfigError(f"normalize.mode: must be one of {MODES}, got {mode!r}")
    if mode == "gray":
        r = render_file(path, window=window, size=size)
        return r.image, r
    r = render_file(path, window=RGB3_WINDOWS[0], size=size)
    src = pixels.load(path)
    channels = [r.image]
    for w in RGB3_WINDOWS[1:]:
        shown = pixels.display(src, pixels.parse_window(w), path)
        channels.append(imaging.letterbox(shown.image, size)[0])
    return np.stack(channels, axis=-1), r


def input_record(source: str, key: str) -> Record:
    """An input's record before its pixels are looked at."""
    return {
        "source": source,
        "origin": source.split("/", 1)[0],
        "image_id": pseudonym(source, key, prefix="I"),
        "patient_id": None,
        "status": "ok",
        "stage": STAGE,
        "reason": None,
    }


def normalize_input(item: tuple[Path, str], *, mode: str, window: str, size: int, key: str) -> RecordImage:
    """:func:`normalize_one` of one (path, source) input (`radtune.executor` maps items)."""
    return normalize_one(*item, mode=mode, window=window, size=size, key=key)


def normalize_failed(item: tuple[Path, str], exc: Exception, *, key: str) -> RecordImage:
    """The record of an input whose work failed outside the decoder (its worker raised or died)."""
    return reject(input_record(item[1], key), STAGE, f"{item[1]}: {describe(exc)}"), None


def normalize_one(path: Path, source: str, *, mode: str, window: str, size: int, key: str) -> RecordImage:
    """Render one DICOM slice: its record (which says what happened) and its PNG bytes."""
    record = input_record(source, key)
    try:
        if pixels.sniff(path) != "dicom":
            raise InputRejected(f"{path.name}: not DICOM: patient-level splitting needs (0010,0020) Patient ID")
        image, r = render_slice(path, mode=mode, window=window, size=size)
    except InputRejected as e:
        return reject(record, STAGE, str(e)), None
    pid = (r.header.get("PatientID") or "").strip()
    if not pid:
        return reject(
            record, STAGE, f"{path.name}: (0010,0020) Patient ID is missing: the patient-level split needs it"
        ), None
    if r.header.get("Modality") not in (None, "CT"):
        return reject(
            record, STAGE, f"{path.name}: (0008,0060) Modality is {r.header['Modality']!r}, expected CT"
        ), None
    h, w = image.shape[:2]
    return {
        **record,
        "patient_id": pseudonym(pid, key),
        "width": int(w),
        "height": int(h),
        "source_shape": list(r.source_shape),
        "scale": r.scale,
        "padding": r.padding,
        "decision": {k: r.decision.get(k) for k in ("transfer_syntax", "modality_lut", "voi")},
        "quality_score": r.quality.get("score"),
    }, imaging.encode_image(image, "png")
