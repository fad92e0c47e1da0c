"""One summary line per stage, plus one line per rejected input."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from radtune.errors import ConfigError, InputRejected
from radtune.records import Record, is_ok, summary


def report_rejections(stage: str, records: list[Record]) -> None:
    for r in records:
        if not is_ok(r) and r["stage"] == stage:
            print(f"{stage}: rejected: {r['reason']}", file=sys.stderr)


def summary_line(stage: str, records: list[Record], seconds: float) -> str:
    s = summary(records)
    by_stage = ", ".join(f"{k}: {v}" for k, v in s["rejected"].items())
    rejected = sum(s["rejected"].values())
    return (f"{stage}: {s['inputs']} inputs, {s['ok']} ok, {rejected} rejected"
            + (f" ({by_stage})" if by_stage else "") + f", {seconds:.1f} s")


@contextmanager
def stage_log(stage: str) -> Iterator[list[Record]]:
    """`with stage_log("annotate") as out: out.extend(records)` prints the stage's
    rejections and its summary line when the block ends."""
    started = time.perf_counter()
    out: list[Record] = []
    yield out
    report_rejections(stage, out)
    print(summary_line(stage, out, time.perf_counter() - started), flush=True)


def run(main: Callable[[], int | None]) -> None:
    """Run a stage script's main(); a broken config or input ends it with one line, prefixed
    by the stage's name (the script's: stages/leakage_check.py -> "leakage-check: ...")."""
    try:
        sys.exit(main() or 0)
    except (ConfigError, InputRejected) as e:
        sys.exit(f"{Path(sys.argv[0]).stem.replace('_', '-')}: {e}")
