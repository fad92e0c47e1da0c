"""One summary line per stage, plus one line per rejected input."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from radtune.errors import ConfigError, InputRejected
from radtune.records import Record, is_ok, records_writer, summary


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


class Tally:
    """What a stage's log needs of its records, without keeping them: how many came, how
    many are ok, and the rejected ones. `add` counts records as they pass; `sink`, when
    given, receives each one (e.g. a `records_writer`)."""

    def __init__(self, records: Iterable[Record] = (), sink: Callable[[Record], None] | None = None):
        self.inputs, self.ok, self.rejected, self._sink = 0, 0, [], sink
        self.add(records)

    def add(self, records: Iterable[Record]) -> None:
        for r in records:
            self.inputs += 1
            if is_ok(r):
                self.ok += 1
            else:
                self.rejected.append(r)
            if self._sink is not None:
                self._sink(r)


def _tally(records: Iterable[Record] | Tally) -> Tally:
    return records if isinstance(records, Tally) else Tally(records)


def records_summary(records: Iterable[Record] | Tally) -> dict[str, object]:
    """The counts of a stage's records: inputs, ok, rejected (and by which stage)."""
    t = _tally(records)
    by_stage = ", ".join(f"{k} {v}" for k, v in summary(t.rejected)["rejected"].items())
    return {"inputs": t.inputs, "ok": t.ok, "rejected": f"{len(t.rejected)} ({by_stage})" if by_stage else 0}


def require_some(stage: str, records: Iterable[Record] | Tally) -> None:
    """InputRejected (one line) when no record is left ok: the next stage would get nothing.
    Stages call it before writing, so a run whose inputs are all rejected stops at once."""
    t = _tally(records)
    if t.ok:
        return
    if not t.inputs:
        raise InputRejected("no inputs: nothing to hand on to the next stage (is the raw folder empty?)")
    by_stage = ", ".join(f"{k} {v}" for k, v in summary(t.rejected)["rejected"].items())
    raise InputRejected(
        f"all {t.inputs} inputs were rejected (by {by_stage}): nothing to hand on to the next stage; "
        "the lines above give each reason"
    )


def say(stage: str, lines: list[str]) -> None:
    """Lines for the stage's log (stderr, beside its rejections), each prefixed `<stage>: `."""
    for line in lines:
        print(f"{stage}: {line}", file=sys.stderr)


def _close(stage: str, started: float, t: Tally) -> None:
    report_rejections(stage, t.rejected)
    print_summary(stage, started, **records_summary(t))
    require_some(stage, t)


@contextmanager
def stage_log(stage: str) -> Iterator[list[Record]]:
    """`with stage_log("annotate") as out: out.extend(records)` prints the stage's
    rejections and its summary line when the block ends, then fails (`require_some`) when
    no record is left ok; write the stage's outputs after the block."""
    started = time.perf_counter()
    out: list[Record] = []
    yield out
    _close(stage, started, Tally(out))


@contextmanager
def stage_log_to(stage: str, path: Path) -> Iterator[Tally]:
    """stage_log for a stage whose records need not fit in memory (normalize, at any number
    of images): `with stage_log_to("normalize", out / "records.json") as t: t.add(records)`
    streams the records, sorted by source, to `path` (`radtune.records.records_writer`) and
    keeps only their counts and rejections; `path` appears after the summary line, unless
    no record is ok."""
    started = time.perf_counter()
    with records_writer(path) as write:
        t = Tally(sink=write)
        yield t
        _close(stage, started, t)


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
