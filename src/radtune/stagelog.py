"""One summary line per stage, plus one line per rejected input."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from radtune.errors import ConfigError, InputRejected
from radtune.records import Record, is_ok, summary


def report_rejections(stage: str, records: list[Record]) -> None:
    for r in records:
        if not is_ok(r) and r["stage"] == stage:
            print(f"{stage}: rejected: {r['reason']}", file=sys.stderr)


def summary_line(stage: str, seconds: float, **counts: object) -> str:
    """`<stage>: <name>: <count>, ..., <seconds> s` (underscores in names become spaces)."""
    parts = "".join(f"{k.replace('_', ' ')}: {v}, " for k, v in counts.items())
    return f"{stage}: {parts}{seconds:.1f} s"


def print_summary(stage: str, started: float, **counts: object) -> None:
    """Print a stage's one summary line; `started` is its `time.perf_counter()` at the start."""
    print(summary_line(stage, time.perf_counter() - started, **counts), flush=True)


def records_summary(records: list[Record]) -> dict[str, object]:
    """The counts of a stage's records: inputs, ok, rejected (and by which stage)."""
    s = summary(records)
    rejected = sum(s["rejected"].values())
    by_stage = ", ".join(f"{k} {v}" for k, v in s["rejected"].items())
    return {"inputs": s["inputs"], "ok": s["ok"], "rejected": f"{rejected} ({by_stage})" if by_stage else rejected}


def require_some(stage: str, records: list[Record]) -> None:
    """InputRejected (one line) when no record is left ok: the next stage would get nothing.
    Stages call it before writing, so a run whose inputs are all rejected stops at once."""
    if any(is_ok(r) for r in records):
        return
    if not records:
        raise InputRejected("no inputs: nothing to hand on to the next stage (is the raw folder empty?)")
    by_stage = ", ".join(f"{k} {v}" for k, v in summary(records)["rejected"].items())
    raise InputRejected(
        f"all {len(records)} inputs were rejected (by {by_stage}): nothing to hand on to the next stage; "
        "the lines above give each reason"
    )


def say(stage: str, lines: list[str]) -> None:
    """Lines for the stage's log (stderr, beside its rejections), each prefixed `<stage>: `."""
    for line in lines:
        print(f"{stage}: {line}", file=sys.stderr)


@contextmanager
def stage_log(stage: str) -> Iterator[list[Record]]:
    """`with stage_log("annotate") as out: out.extend(records)` prints the stage's
    rejections and its summary line when the block ends, then fails (`require_some`) when
    no record is left ok; write the stage's outputs after the block."""
    started = time.perf_counter()
    out: list[Record] = []
    yield out
    report_rejections(stage, out)
    print_summary(stage, started, **records_summary(out))
    require_some(stage, out)


def stage_name() -> str:
    """The running stage's name, from its script: stages/leakage_check.py -> "leakage-check"."""
    return Path(sys.argv[0]).stem.replace("_", "-")


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(f"{stage_name()}: terminated ({signal.Signals(signum).name})")


def run(main: Callable[[], int | None]) -> None:
    """Run a stage script's main(); a broken config or input ends it with one line, prefixed
    by the stage's name. SIGTERM (`kill`, a CI job cancelled, a container stopped) ends it
    like Ctrl-C does, as an exception, so `radtune.outputs.keep_previous` puts the previous
    outputs back instead of leaving half-written ones."""
    signal.signal(signal.SIGTERM, _terminated)
    try:
        sys.exit(main() or 0)
    except (ConfigError, InputRejected) as e:
        sys.exit(f"{stage_name()}: {e}")
