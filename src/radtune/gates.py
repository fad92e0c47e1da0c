"""Gates: the margins by which a model must beat its baselines, from a committed file.

    gates:                                   # .ci/gates.yaml
      pedirad_8k:                            # variant
        metrics/pedirad_8k/eval.json:        # metrics file
          - fracture_accuracy >= fracture_majority_accuracy + 0.25
          - bone_age_mae <= 0.8 * bone_age_chronological_mae
          - n_test >= 120

A gate is `<metric> (>=|<=) <right side>`, the right side one of `<number>`, `<metric>`,
`<metric> (+|-) <number>` or `<number> * <metric>`. A gate with a metric on the right
protects a margin: the number added (`+ 0.25` -> 0.25) or, for a factor, the distance
`|1 - factor| * <committed right-hand value>`. The tolerances of the metrics in a gate
(`radtune.verify`) must add up to less than that margin, or a rerun that lost to the
baseline could still pass."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from radtune.errors import ConfigError

_NUM = r"-?\d+(?:\.\d+)?"
_NAME = r"[A-Za-z_][A-Za-z0-9_.]*"
_GATE = re.compile(
    rf"^\s*(?P<lhs>{_NAME})\s*(?P<op>>=|<=)\s*(?:(?P<factor>{_NUM})\s*\*\s*)?"
    rf"(?:(?P<rhs>{_NAME})\s*(?:(?P<sign>[+-])\s*(?P<offset>{_NUM}))?|(?P<const>{_NUM}))\s*$"
)


@dataclass(frozen=True)
class Gate:
    text: str
    lhs: str
    op: str
    rhs: str | None  # None: a constant threshold
    factor: float
    offset: float

    def threshold(self, values: Mapping[str, Any]) -> float | None:
        if self.rhs is None:
            return self.offset
        r = values.get(self.rhs)
        return None if not _is_number(r) else self.factor * r + self.offset

    def holds(self, values: Mapping[str, Any]) -> bool:
        left, t = values.get(self.lhs), self.threshold(values)
        if not _is_number(left) or t is None:
            return False
        return left >= t - 1e-12 if self.op == ">=" else left <= t + 1e-12

    def margin(self, committed: Mapping[str, Any]) -> float | None:
        """The separation from the baseline this gate protects (None for a constant)."""
        if self.rhs is None:
            return None
        if self.factor != 1.0:
            r = committed.get(self.rhs)
            return abs(1 - self.factor) * abs(r) if _is_number(r) else None
        return abs(self.offset)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def parse_gate(text: str) -> Gate:
    m = _GATE.match(text)
    if not m or (m["factor"] and not m["rhs"]):
        raise ConfigError(f"gate {text!r}: expected '<metric> >=|<= [<number> *] <metric> [+|- <number>]' or a number")
    if m["const"] is not None:
        return Gate(text, m["lhs"], m["op"], None, 1.0, float(m["const"]))
    offset = float(m["offset"] or 0) * (-1 if m["sign"] == "-" else 1)
    return Gate(text, m["lhs"], m["op"], m["rhs"], float(m["factor"] or 1), offset)


def read_gates(path: Path) -> dict[str, dict[str, list[Gate]]]:
    """variant -> metrics file -> its gates."""
    data = (yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}).get("gates") or {}
    return {v: {f: [parse_gate(g) for g in gs] for f, gs in files.items()} for v, files in data.items()}


def check_gates(gates: Mapping[str, list[Gate]], metrics: Mapping[str, Mapping[str, Any] | None]) -> list[str]:
    """One line per gate that does not hold on the (rerun's) metrics."""
    problems = []
    for file, file_gates in gates.items():
        values = metrics.get(file) or {}
        for g in file_gates:
            if not g.holds(values):
                t = g.threshold(values)
                problems.append(
                    f"gate {file}: {g.text} does not hold ({g.lhs} = {values.get(g.lhs)}, needs {g.op} {t})"
                )
    return problems


def tolerance_problems(
    gates: Mapping[str, list[Gate]], committed: Mapping[str, Mapping[str, Any]], tolerances: Mapping[str, float]
) -> list[str]:
    """One line per gate whose metrics' tolerances add up to its margin or more."""

    def tol(file: str, metric: str) -> float:
        return next((float(t) for p, t in tolerances.items() if fnmatch.fnmatchcase(f"{file}:{metric}", p)), 0.0)

    problems = []
    for file, file_gates in gates.items():
        for g in file_gates:
            margin = g.margin(committed.get(file) or {})
            if margin is None:
                continue
            total = tol(file, g.lhs) + abs(g.factor) * tol(file, g.rhs)
            if total >= margin:
                problems.append(f"gate {file}: {g.text}: tolerances add up to {total:g} >= the margin {margin:g}")
    return problems
