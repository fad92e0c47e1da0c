"""Download the no-hemorrhage pool from S3: FP first, then TN; thickness filter; retries
with exponential backoff; resumable.

Resume contract (an interrupted run, rerun with the same inputs, ends with exactly the
files of an uninterrupted run and never downloads a finished object again):

* a download streams into ``dicom/.<name>.part``, is validated (DICOM with decodable pixel
  data, allowed slice thickness) and only then renamed to ``dicom/<name>``: a file with its
  final name is always complete; leftover ``.part`` files are deleted at start;
* objects already present are not requested again (their thickness is read from the local
  header);
* objects rejected (not DICOM, corrupted) or skipped (thickness) are appended to the
  journal ``.fetch_journal.jsonl`` as soon as they are decided and, at the end, recorded in
  ``fetch_log.json``; both are read at start, so they are not requested again either
  (a skipped object is re-decided from its recorded thickness if the allowed set changed);
* files no longer selected (``max_images`` lowered, thickness set narrowed) are removed.
Transient failures (network, 5xx) are not journaled: the next run retries them.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pydicom
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ParamValidationError

from radtune import pixels
from radtune.errors import ConfigError, InputRejected
from radtune.executor import describe, map_in_order, worker_path, written_here
from radtune.io import read_json
from radtune.variants.ct_v4.s3pool import S3Target, client_of

FEEDBACK = ("FP", "TN")
JOURNAL = ".fetch_journal.jsonl"
LOG = "fetch_log.json"
DICOM_DIR = "dicom"
#: S3 error codes worth retrying (besides any HTTP 5xx)
RETRYABLE_CODES = {
    "SlowDown",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeout",
    "Throttling",
    "RequestTimeTooSkewed",
}


@dataclass(frozen=True)
class PoolEntry:
    """One object of the pool: its S3 key and the feedback label (FP or TN)."""

    key: str
    feedback: str


class TransientError(Exception):
    """A failure worth retrying (network, throttling, 5xx)."""


# --------------------------------------------------------------------------- the plan
def read_feedback_csv(path: Path) -> list[PoolEntry]:
    """The metadata CSV (columns ``s3_key``, ``feedback`` in FP/TN)."""
    path = Path(path)
    if not path.is_file():
        raise InputRejected(f"{path}: metadata CSV not found (fetch.metadata_csv)")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"s3_key", "feedback"} - set(reader.fieldnames or [])
        if missing:
            raise InputRejected(f"{path.name}: missing column(s) {sorted(missing)}; need s3_key,feedback")
        out = []
        for line, row in enumerate(reader, start=2):
            fb = (row["feedback"] or "").strip().upper()
            key = (row["s3_key"] or "").strip()
            if fb not in FEEDBACK or not key:
                raise InputRejected(f"{path.name}: line {line}: need an s3_key and feedback FP or TN, got {row!r}")
            out.append(PoolEntry(key, fb))
    keys = [e.key for e in out]
    if len(set(keys)) != len(keys):
        raise InputRejected(f"{path.name}: duplicate s3_key values")
    return out


def plan(entries: Iterable[PoolEntry], max_images: int | None, fp_only: bool = False) -> list[PoolEntry]:
    """What to attempt: every FP (sorted by key), then TN (sorted by key), at most
    ``max_images`` in total (None = all)."""
    entries = list(entries)
    fp = sorted((e for e in entries if e.feedback == "FP"), key=lambda e: e.key)
    tn = [] if fp_only else sorted((e for e in entries if e.feedback == "TN"), key=lambda e: e.key)
    ordered = fp + tn
    return ordered if max_images is None else ordered[: int(max_images)]


def local_name(key: str) -> str:
    """The file name of an object: its key with '/' replaced by '__'."""
    parts = key.split("/")
    if key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InputRejected(f"s3_key {key!r}: not a plain relative key")
    return "__".join(parts)


# --------------------------------------------------------------------------- one object
def thickness_allowed(value: float, allowed: Iterable[float]) -> bool:
    return any(abs(float(value) - float(a)) < 1e-3 for a in allowed)


def read_thickness(ds: pydicom.Dataset) -> float:
    """(0018,0050) Slice Thickness as a number, or InputRejected."""
    raw = ds.get("SliceThickness")
    if raw in (None, ""):
        raise InputRejected("(0018,0050) Slice Thickness is missing")
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise InputRejected(f"(0018,0050) Slice Thickness {raw!r} is not a number") from None


def header_thickness(path: Path) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_thickness(pydicom.dcmread(path, stop_before_pixels=True))


def validate_download(path: Path) -> float:
    """Check that ``path`` is a DICOM file whose pixel data decodes (radtune.pixels does the
    checks and words the reason); return its slice thickness. Raises InputRejected."""
    if pixels.sniff(path) != "dicom":
        raise InputRejected(f"not DICOM ({pixels.sniff(path).upper()} data)")
    try:
        src = pixels.load(path)
    except InputRejected as e:  # drop the temp file name pixels puts first
        raise InputRejected(str(e).split(": ", 1)[-1]) from None
    return read_thickness(src.ds)


def get_object(client: Any, bucket: str, key: str, dest: Path) -> None:
    """One GET streamed into ``dest``; TransientError for what is worth retrying."""
    try:
        resp = client.get_object(Bucket=bucket, Key=key)
        with open(dest, "wb") as f:
            shutil.copyfileobj(resp["Body"], f, 1 << 20)
            f.flush()
            os.fsync(f.fileno())
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in RETRYABLE_CODES or status >= 500:
            raise TransientError(f"S3 {code or status}") from None
        raise
    except (NoCredentialsError, ParamValidationError):
        raise
    except (BotoCoreError, OSError) as e:
        raise TransientError(f"{type(e).__name__}: {e}") from None


def download_with_retries(
    client: Any,
    bucket: str,
    key: str,
    dest: Path,
    retries: int,
    backoff: float,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """``get_object`` up to ``retries`` + 1 times, waiting backoff * 2**i between tries."""
    for attempt in range(retries + 1):
        try:
            get_object(client, bucket, key, dest)
            return
        except TransientError:
            dest.unlink(missing_ok=True)
            if attempt == retries:
                raise
            sleep(backoff * 2**attempt)


# --------------------------------------------------------------------------- resume state
def load_known(out_dir: Path) -> dict[str, dict]:
    """Decided outcomes (skipped/rejected) from a previous run's log and journal."""
    known: dict[str, dict] = {}
    log = out_dir / LOG
    if log.is_file():
        for o in read_json(log).get("objects", []):
            if o["status"] in ("skipped", "rejected"):
                known[o["key"]] = o
    journal = out_dir / JOURNAL
    if journal.is_file():
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                o = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill
                continue
            known[o["key"]] = o
    return known


def journal_append(out_dir: Path, outcome: dict) -> None:
    with open(out_dir / JOURNAL, "a", encoding="utf-8") as f:
        f.write(json.dumps(outcome, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def clean_partials(dicom_dir: Path) -> int:
    parts = sorted(dicom_dir.glob(".*.part"))
    for p in parts:
        p.unlink()
    return len(parts)


# --------------------------------------------------------------------------- the loop
def outcome(
    entry: PoolEntry, status: str, reason: str | None = None, file: str | None = None, thickness: float | None = None
) -> dict:
    return {
        "key": entry.key,
        "feedback": entry.feedback,
        "status": status,
        "reason": reason,
        "file": file,
        "thickness": thickness,
    }


def fetch_one(
    task: tuple[PoolEntry, dict | None],
    client: Any,
    bucket: str,
    dicom_dir: Path,
    allowed: list[float],
    retries: int,
    backoff: float,
    sleep: Callable[[float], None],
) -> tuple[dict, bool]:
    """Decide one object (with what a previous run decided of it, if anything); returns
    (outcome, downloaded_now). On a Dask worker `client` is the S3Target to make a client of."""
    entry, prior = task
    if isinstance(client, S3Target):
        client = client_of(client)
    name = local_name(entry.key)
    final = dicom_dir / name
    if final.is_file():
        t = header_thickness(final)
        if thickness_allowed(t, allowed):
            return outcome(entry, "ok", file=name, thickness=t), False
        final.unlink()  # allowed set narrowed since it was downloaded
        return outcome(entry, "skipped", f"slice thickness {t:g} mm not in {allowed}", thickness=t), False
    if prior and prior["status"] == "rejected":
        return outcome(entry, "rejected", prior["reason"]), False
    if (
        prior
        and prior["status"] == "skipped"
        and prior.get("thickness") is not None
        and not thickness_allowed(prior["thickness"], allowed)
    ):
        return outcome(
            entry,
            "skipped",
            f"slice thickness {prior['thickness']:g} mm not in {allowed}",
            thickness=prior["thickness"],
        ), False
    tmp = dicom_dir / f".{name}.part"
    try:
        download_with_retries(client, bucket, entry.key, tmp, retries, backoff, sleep)
    except TransientError as e:
        return outcome(entry, "failed", f"download failed after {retries + 1} attempts: {e}"), True
    except ClientError as e:
        err = e.response.get("Error", {})
        return outcome(entry, "failed", f"S3 {err.get('Code', '?')}: {err.get('Message', '')}".strip()), True
    try:
        t = validate_download(tmp)
    except InputRejected as e:
        tmp.unlink(missing_ok=True)
        reason = str(e)
        status = "skipped" if reason.startswith("(0018,0050)") else "rejected"
        return outcome(entry, status, reason), True
    if not thickness_allowed(t, allowed):
        tmp.unlink()
        return outcome(entry, "skipped", f"slice thickness {t:g} mm not in {allowed}", thickness=t), True
    os.replace(tmp, final)
    return outcome(entry, "ok", file=name, thickness=t), True


def failed_one(task: tuple[PoolEntry, dict | None], exc: Exception) -> tuple[dict, bool]:
    """An object whose work raised unexpectedly (or whose Dask workers died): `failed`, so the
    next run tries it again. Missing or refused credentials stop the stage."""
    if isinstance(exc, (NoCredentialsError, ParamValidationError)):
        raise exc
    return outcome(task[0], "failed", describe(exc)), False


def fetch_pool(
    client: Any,
    bucket: str,
    entries: list[PoolEntry],
    out_dir: Path,
    *,
    allowed_thickness: list[float],
    retries: int = 4,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    after_each: Callable[[dict], None] | None = None,
    executor: str = "local",
    address: str | None = None,
) -> list[dict]:
    """Download ``entries`` (already planned) into ``out_dir/dicom``; return one outcome per
    entry, in order: status ok | skipped (thickness) | rejected (not DICOM / corrupted, with
    the reason) | failed (S3 error after retries). ``after_each(outcome)`` runs after every
    object (tests interrupt the run with it). Locally the objects are fetched one after the
    other with ``client``; with ``executor="dask"`` on the cluster at ``address``, each worker
    making its own client of ``client``, an S3Target (`radtune.executor`)."""
    out_dir = Path(out_dir)
    dicom_dir = out_dir / DICOM_DIR
    dicom_dir.mkdir(parents=True, exist_ok=True)
    clean_partials(dicom_dir)
    known = load_known(out_dir)
    allowed = [float(a) for a in allowed_thickness]
    wanted = {local_name(e.key) for e in entries}
    for stale in sorted(dicom_dir.iterdir()):
        if stale.is_file() and stale.name not in wanted:
            stale.unlink()
    work = partial(
        fetch_one,
        client=client,
        bucket=bucket,
        dicom_dir=worker_path(dicom_dir, executor),
        allowed=allowed,
        retries=retries,
        backoff=backoff,
        sleep=sleep,
    )
    tasks = [(e, known.get(e.key)) for e in entries]
    results: list[dict] = []
    done = written_here(
        map_in_order(work, tasks, on_error=failed_one, executor=executor, address=address, desc="fetch", unit="obj"),
        lambda result: dicom_dir / result[0]["file"] if result[0]["status"] == "ok" else None,
        executor,
        "DICOM files",
    )
    with closing(done):
        for entry, (o, fresh) in zip(entries, done):
            if fresh and o["status"] in ("skipped", "rejected"):
                journal_append(out_dir, o)
            if o["status"] != "ok" and (dicom_dir / local_name(entry.key)).exists():
                (dicom_dir / local_name(entry.key)).unlink()
            results.append(o)
            if after_each is not None:
                after_each(o)
    return results


def summarize(results: list[dict]) -> dict[str, int]:
    """Counts as the seed prints them: failed = rejected + failed."""
    n = {s: sum(1 for r in results if r["status"] == s) for s in ("ok", "skipped", "rejected", "failed")}
    return {
        "succeeded": n["ok"],
        "skipped_thickness": n["skipped"],
        "failed": n["rejected"] + n["failed"],
        "rejected": n["rejected"],
        "transient_failed": n["failed"],
        "total_attempted": len(results),
        "fp_succeeded": sum(1 for r in results if r["status"] == "ok" and r["feedback"] == "FP"),
    }


def format_summary(s: dict[str, int]) -> str:
    return "\n".join(
        [
            "[fetch] Download Summary",
            f"  Successful: {s['succeeded']:,}",
            f"  Skipped (slice thickness): {s['skipped_thickness']:,}",
            f"  Failed: {s['failed']:,}",
            f"  Total attempted: {s['total_attempted']:,}",
        ]
    )


def finish(out_dir: Path, results: list[dict]) -> dict:
    """Write fetch_log.json (deterministic: no timings, no attempt counts) and drop the
    journal; return the summary."""
    from radtune.io import write_json

    s = summarize(results)
    write_json(Path(out_dir) / LOG, {"summary": s, "objects": results})
    (Path(out_dir) / JOURNAL).unlink(missing_ok=True)
    return s


def check_allowed(values: Any) -> list[float]:
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ConfigError(f"fetch.allowed_thickness: must be a list of numbers (mm), got {values!r}") from None
    if not out:
        raise ConfigError("fetch.allowed_thickness: must not be empty")
    return out
