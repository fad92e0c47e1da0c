"""The normalize stage's library: every input file -> one record (+ one 8-bit image, kept
in the output's image shards, `radtune.shards`).

Inputs are all files under the raw folder except the labels CSV; files in train/, val/
or test/ sub-folders carry that split along (`source_split`) for `stratify.mode=keep`.
The pixel work is `radtune.render.render_file`, the same code `radtune convert` runs;
files in the settings' `colour_dirs` (colour photographs, e.g. fundus images) go through
`radtune.render.render_colour_file` instead and stay RGB."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from omegaconf import DictConfig

from radtune.errors import ConfigError, InputRejected, named_as
from radtune.executor import describe, map_in_order, worker_path
from radtune.inventory import Digests
from radtune.io import file_sha256
from radtune.pseudonym import pseudonym, resolve_key
from radtune.records import SPLITS, Record, reject
from radtune.shards import RecordImage, write_normalized
from radtune.stagelog import Tally

STAGE = "normalize"


@dataclass(frozen=True)
class NormalizeSettings:
    size: int
    window: str
    auto_percentiles: tuple[float, float]
    jpeg_quality: int
    key: str  # pseudonym key
    colour_dirs: tuple[str, ...] = ()  # top-level input folders of colour photographs (kept RGB)


def list_inputs(raw_dir: Path, exclude: set[str]) -> list[Path]:
    """Every regular file under raw_dir (sorted; hidden files and `exclude` names skipped)."""
    files = [
        p
        for p in raw_dir.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(raw_dir).parts)
        and p.relative_to(raw_dir).as_posix() not in exclude
    ]
    return sorted(files, key=lambda p: p.relative_to(raw_dir).as_posix())


_AGE_UNIT_MONTHS = {"D": 1 / 30.4375, "W": 7 / 30.4375, "M": 1.0, "Y": 12.0}


def age_months_from_header(patient_age: str | None, birth_date: str | None, study_date: str | None) -> int | None:
    """Age in whole months from (0010,1010) Patient's Age ("048M", "004Y", "012W", "030D"),
    else from (0010,0030) Patient's Birth Date and (0008,0020) Study Date; None if unknown."""
    age = (patient_age or "").strip().upper()
    if len(age) == 4 and age[:3].isdigit() and age[3] in _AGE_UNIT_MONTHS:
        return int(int(age[:3]) * _AGE_UNIT_MONTHS[age[3]])
    b, s = (birth_date or "").strip(), (study_date or "").strip()
    if len(b) == 8 and len(s) == 8 and b.isdigit() and s.isdigit():
        months = (int(s[:4]) - int(b[:4])) * 12 + int(s[4:6]) - int(b[4:6]) - (int(s[6:]) < int(b[6:]))
        return months if months >= 0 else None
    return None


def source_split(relative: Path) -> str | None:
    return relative.parts[0] if len(relative.parts) > 1 and relative.parts[0] in SPLITS else None


def named_by_source(message: str, relative: Path) -> str:
    """A decoder's one-line refusal (`<file name>: ...`) naming the file as the user knows it:
    its path relative to the raw folder (`train/x.dcm`, not `x.dcm`)."""
    return named_as(message, relative, relative.as_posix())


def input_record(path: Path, raw_dir: Path, key: str, sha256: str | None = None) -> Record:
    """What a record says of its input before any decoding: source, digest (``sha256`` when
    fetch's inventory has it, else computed here), image id."""
    relative = path.relative_to(raw_dir)
    sha = sha256 or file_sha256(path)
    return {
        "source": relative.as_posix(),
        "source_sha256": sha,
        "source_split": source_split(relative),
        "image_id": pseudonym(f"{sha}\0{relative.as_posix()}", key, prefix="", length=16),
        "status": "ok",
        "stage": STAGE,
        "reason": None,
    }


def normalize_one(path: Path, raw_dir: Path, s: NormalizeSettings, sha256: str | None = None) -> RecordImage:
    """Render one input (whose digest is ``sha256`` when known): its record and its image
    as JPEG bytes."""
    from radtune.imaging import encode_image
    from radtune.render import render_colour_file, render_file

    record = input_record(path, raw_dir, s.key, sha256)
    relative, sha = path.relative_to(raw_dir), record["source_sha256"]
    try:
        if relative.parts[0] in s.colour_dirs:
            r = render_colour_file(path, size=s.size)
        else:
            r = render_file(path, window=s.window, size=s.size, auto_percentiles=s.auto_percentiles)
    except InputRejected as e:
        return reject(record, STAGE, named_by_source(str(e), relative)), None
    except ConfigError:  # a setting, not this file: the stage stops (check-params refuses it first)
        raise
    except Exception as e:  # noqa: BLE001 - an unforeseen decoder failure must not stop the stage
        return reject(record, STAGE, f"{relative.as_posix()}: unexpected {type(e).__name__}: {e}"), None
    h = r.header
    patient = h.get("PatientID")
    return {
        **record,
        # no PatientID in the header: the file is its own patient (annotate may override from the CSV)
        "patient_id": pseudonym(f"id:{patient}" if patient else f"file:{sha}", s.key),
        "patient_id_source": "header" if patient else "file",
        "header_sex": h.get("PatientSex") or None,
        "header_age_months": age_months_from_header(h.get("PatientAge"), h.get("PatientBirthDate"), h.get("StudyDate")),
        "modality": h.get("Modality"),
        "body_part": h.get("BodyPartExamined"),
        "view": h.get("ViewPosition"),
        "decision": r.decision,
        "padding": r.padding,
        "scale": round(r.scale, 6),
        "source_shape": list(r.source_shape),
        "quality_score": r.quality["score"],
        "quality": r.quality["components"],
        "quality_detail": r.quality["detail"],
    }, encode_image(r.image, "jpg", s.jpeg_quality)


def _normalize_item(item: tuple[Path, str | None], raw_dir: Path, s: NormalizeSettings) -> RecordImage:
    """:func:`normalize_one` of one (path, known digest) input (`radtune.executor` maps items)."""
    path, sha256 = item
    return normalize_one(path, raw_dir, s, sha256)


def failed_one(item: tuple[Path, str | None], exc: Exception, raw_dir: Path, s: NormalizeSettings) -> RecordImage:
    """The record of an input whose work failed outside the decoder (its worker raised or died)."""
    path, sha = item
    relative = path.relative_to(raw_dir).as_posix()
    return reject(input_record(path, raw_dir, s.key, sha), STAGE, f"{relative}: {describe(exc)}"), None


def normalize_all(
    files: list[Path],
    raw_dir: Path,
    s: NormalizeSettings,
    jobs: int,
    executor: str = "local",
    address: str | None = None,
    digests: Digests | None = None,
) -> Iterator[RecordImage]:
    """normalize_one over all files, yielded in input order as they are done, with a
    progress bar: in `jobs` local processes, or on the Dask cluster at `address`
    (`radtune.executor`), whose workers read the inputs on storage shared with this machine.
    Each file's SHA-256 comes from `digests` (fetch's inventory) when given."""
    items = [(worker_path(f, executor), digests.digest(f) if digests else None) for f in files]
    raw_dir = worker_path(raw_dir, executor)
    return map_in_order(
        partial(_normalize_item, raw_dir=raw_dir, s=s),
        items,
        on_error=partial(failed_one, raw_dir=raw_dir, s=s),
        jobs=jobs,
        executor=executor,
        address=address,
        desc=STAGE,
        unit="img",
    )


def normalize_to(
    out: Path,
    files: list[Path],
    raw_dir: Path,
    s: NormalizeSettings,
    jobs: int,
    executor: str = "local",
    address: str | None = None,
    digests: Digests | None = None,
) -> Tally:
    """The normalize stage: `normalize_all`, its log, its records streamed to
    `out/records.json` and its images to `out/images/` shards (memory does not grow with
    the number of images); returns the counts."""
    files = sorted(files, key=lambda f: f.relative_to(raw_dir).as_posix())  # records.json's order
    results = normalize_all(files, raw_dir, s, jobs, executor, address, digests)
    return write_normalized(out, results, ".jpg", STAGE)


def run_stage(
    p: DictConfig, raw: Path, fetched: Path, out: Path, exclude: set[str], colour_dirs: tuple[str, ...] = ()
) -> Tally:
    """A variant's normalize stage over every file under `raw` but the `exclude` names
    (its labels / annotation files), with `p.dataset.normalize`'s settings, into
    `out/images/` (shards) and `out/records.json`; the files' digests come from fetch's
    inventory in `fetched`."""
    n = p.dataset.normalize
    settings = NormalizeSettings(
        size=n.size,
        window=n.window,
        auto_percentiles=tuple(n.auto_percentiles),
        jpeg_quality=n.jpeg_quality,
        key=resolve_key(p.dataset.pseudonym),
        colour_dirs=colour_dirs,
    )
    files, digests = list_inputs(raw, exclude), Digests(fetched, raw)
    return normalize_to(out, files, raw, settings, p.jobs, p.executor, p.dask_scheduler, digests)
