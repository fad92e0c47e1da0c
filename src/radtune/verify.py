"""`radtune verify`: check a rerun of one variant's pipeline against its committed results.

Each variant's results live in `metrics/<variant>/`: its metrics files (the `metrics:` that
dvc.yaml declares, with `${dataset.variant}` = the variant) and `pipeline.lock`, the dvc.lock
of the run that made them (`radtune results` writes it). Run verify after `dvc repro` with
that variant active (CI: on a fresh clone, so everything is recomputed):

1. **Data-stage hashes.** Every hash in `dvc.lock` of the data stages (every stage except
   the model stages train, merge, eval) must equal the one in the committed
   `metrics/<variant>/pipeline.lock` (`git show REF:...`): the data pipeline is
   byte-reproducible, so any difference is a bug.
2. **Metrics.** Each metrics file against its committed version; a metric may move by at
   most its tolerance from the tolerance file (`.ci/metric_tolerances.yaml`):

       tolerances:                 # "<metrics file>:<key>" glob -> largest allowed |new - old|
         "metrics/*/eval.json:fracture_*": 0.05

   The first matching pattern wins; a metric no pattern matches must not move at all, and
   a metric that appears or disappears is a failure (except `data_state` appearing in a
   rerun of results committed before metrics named their data state).
   All metrics files of the rerun must name the same data state.
3. **Gates.** The model must beat each baseline by the margin in the gates file
   (`.ci/gates.yaml`, see `radtune.gates`), on the rerun's metrics; and every tolerance
   must be smaller than the margin it protects (else a rerun that loses could pass).

Exit status 0 when everything holds, 1 with one line per violation otherwise."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from radtune.datastate import KEY as DATA_STATE
from radtune.errors import ConfigError
from radtune.gates import check_gates, read_gates, tolerance_problems

MODEL_STAGES = ("train", "merge", "eval")
RESULTS_LOCK = "pipeline.lock"


def results_dir(variant: str) -> Path:
    return Path("metrics") / variant


def _git_show(ref: str, path: str | Path) -> str:
    r = subprocess.run(["git", "show", f"{ref}:{Path(path).as_posix()}"], capture_output=True, text=True)
    if r.returncode != 0:
        raise ConfigError(f"cannot read {path} at {ref}: {r.stderr.strip()}")
    return r.stdout


def stage_hashes(lock: Mapping[str, Any], skip: Iterable[str] = MODEL_STAGES) -> dict[str, str]:
    """{"<stage> <deps|outs> <path>": hash} for every stage of a parsed dvc.lock except `skip`."""
    out = {}
    for name, stage in (lock.get("stages") or {}).items():
        if name in skip:
            continue
        for kind in ("deps", "outs"):
            for entry in stage.get(kind) or []:
                out[f"{name} {kind} {entry['path']}"] = entry.get("md5") or entry.get("etag") or str(entry)
    return out


def hash_changes(
    old_lock: Mapping[str, Any], new_lock: Mapping[str, Any], skip: Iterable[str] = MODEL_STAGES
) -> list[str]:
    old, new = stage_hashes(old_lock, skip), stage_hashes(new_lock, skip)
    problems = [
        f"data-stage hash changed: {k}: {old[k]} -> {new[k]}"
        for k in sorted(old.keys() & new.keys())
        if old[k] != new[k]
    ]
    problems += [f"data-stage entry missing after the rerun: {k}" for k in sorted(old.keys() - new.keys())]
    problems += [f"data-stage entry not in the committed lock: {k}" for k in sorted(new.keys() - old.keys())]
    return problems


def flatten(d: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted key, value) of every leaf; list items get their index as key."""
    if isinstance(d, Mapping):
        for k, v in d.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from flatten(v, f"{prefix}.{i}")
    else:
        yield prefix, d


def tolerance_for(metric: str, tolerances: Mapping[str, float]) -> float:
    for pattern, tol in tolerances.items():
        if fnmatch.fnmatchcase(metric, pattern):
            return float(tol)
    return 0.0


def metric_violations(file: str, old: Any, new: Any, tolerances: Mapping[str, float]) -> list[str]:
    """Metrics of one file that moved beyond their tolerance, appeared or disappeared."""
    before, after = dict(flatten(old)), dict(flatten(new))
    problems = []
    for key in sorted(before.keys() | after.keys()):
        metric, a, b = f"{file}:{key}", before.get(key), after.get(key)
        if key == DATA_STATE and a is None:
            continue  # committed before metrics named their data state (radtune.datastate)
        if a is None or b is None:
            if a != b:
                problems.append(f"metric {metric}: {a} -> {b} (appeared or disappeared)")
            continue
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)):
            if a != b:
                problems.append(f"metric {metric}: {a!r} -> {b!r}")
            continue
        tol = tolerance_for(metric, tolerances)
        if abs(b - a) > tol + 1e-12:
            problems.append(f"metric {metric}: {a} -> {b} moved {b - a:+.6g}, tolerance {tol}")
    return problems


def data_state_problems(current: Mapping[str, Any]) -> list[str]:
    """Metrics files of the rerun that name different data states (radtune.datastate): a
    model metric beside data it was not computed on."""
    states = {f: m.get(DATA_STATE) for f, m in current.items() if isinstance(m, Mapping) and m.get(DATA_STATE)}
    if len(set(states.values())) <= 1:
        return []
    return [
        "data states differ (model metrics of other data; rerun train and eval): "
        + ", ".join(f"{f}: {v}" for f, v in sorted(states.items()))
    ]


def metrics_files(variant: str, dvc_yaml: Path = Path("dvc.yaml")) -> list[str]:
    """The metrics files dvc.yaml declares, for `variant`."""
    stages = (yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}).get("stages") or {}
    paths = [next(iter(m)) if isinstance(m, Mapping) else m for s in stages.values() for m in s.get("metrics") or []]
    return sorted(re.sub(r"\$\{dataset\.variant\}", variant, p) for p in paths)


def verify(
    variant: str,
    ref: str = "HEAD",
    tolerances_file: Path = Path(".ci/metric_tolerances.yaml"),
    gates_file: Path = Path(".ci/gates.yaml"),
    lock_file: Path = Path("dvc.lock"),
) -> list[str]:
    old_lock = yaml.safe_load(_git_show(ref, results_dir(variant) / RESULTS_LOCK))
    problems = hash_changes(old_lock, yaml.safe_load(lock_file.read_text(encoding="utf-8")))
    tolerances = (yaml.safe_load(tolerances_file.read_text(encoding="utf-8")) or {}).get("tolerances") or {}
    current: dict[str, Any] = {}
    for file in metrics_files(variant):
        current[file] = json.loads(Path(file).read_text(encoding="utf-8")) if Path(file).is_file() else None
        problems += metric_violations(file, json.loads(_git_show(ref, file)), current[file], tolerances)
    problems += data_state_problems(current)
    gates = read_gates(gates_file).get(variant, {})
    problems += check_gates(gates, current)
    committed = {file: json.loads(_git_show(ref, file)) for file in gates}
    return problems + tolerance_problems(gates, committed, tolerances)


def report(problems: list[str], variant: str, ref: str) -> int:
    """Print the problems (stderr) and a summary line; the exit status."""
    for p in problems:
        print(f"verify: {p}", file=sys.stderr)
    status = f"FAILED, {len(problems)} problem(s)" if problems else "ok"
    print(f"verify: {status}: {variant}: data-stage hashes, metrics and gates against {ref}")
    return 1 if problems else 0


def save_results(variant: str, lock_file: Path = Path("dvc.lock")) -> Path:
    """Copy dvc.lock (the run that made `metrics/<variant>/`) to `metrics/<variant>/pipeline.lock`."""
    from radtune.io import write_text_atomic

    dest = results_dir(variant) / RESULTS_LOCK
    write_text_atomic(dest, lock_file.read_text(encoding="utf-8"))
    return dest
