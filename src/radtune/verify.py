"""`radtune verify`: check a rerun of the pipeline against the committed results.

Run it after `dvc repro` (CI: on a fresh clone, so everything is recomputed):

1. **Data-stage hashes.** Every hash in `dvc.lock` of the data stages (every stage except
   the model stages train, merge, eval) must equal the committed one (`git show
   REF:dvc.lock`): the data pipeline is byte-reproducible, so any difference is a bug.
2. **Metrics.** `dvc metrics diff REF` against the committed `metrics/`; a metric may move
   by at most its tolerance from the tolerance file (`.ci/metric_tolerances.yaml`):

       tolerances:                 # "<metrics file>:<key>" glob -> largest allowed |new - old|
         "metrics/eval.json:fracture_*": 0.05

   The first matching pattern wins; a metric no pattern matches must not move at all, and
   a metric that appears or disappears is a failure.

Exit status 0 when everything holds, 1 with one line per violation otherwise. Only model
stage hashes (train, merge, eval) may differ: the committed dvc.lock then shows the rerun
as changed, which is expected off this CPU type and is not a failure here."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from radtune.errors import ConfigError

MODEL_STAGES = ("train", "merge", "eval")


def _git_show(ref: str, path: str) -> str:
    r = subprocess.run(["git", "show", f"{ref}:{path}"], capture_output=True, text=True)
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
    problems += [f"data-stage entry not in the committed dvc.lock: {k}" for k in sorted(new.keys() - old.keys())]
    return problems


def _flatten(d: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(d, Mapping) and not ({"old", "new"} & d.keys()):
        for k, v in d.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, d


def tolerance_for(metric: str, tolerances: Mapping[str, float]) -> float:
    for pattern, tol in tolerances.items():
        if fnmatch.fnmatchcase(metric, pattern):
            return float(tol)
    return 0.0


def metric_violations(diff: Mapping[str, Any], tolerances: Mapping[str, float]) -> list[str]:
    """`diff` is `dvc metrics diff --json`'s output: {file: {key: {old, new, diff}}}."""
    problems = []
    for file, keys in sorted(diff.items()):
        for key, change in _flatten(keys):
            metric = f"{file}:{key}"
            old, new = change.get("old"), change.get("new")
            if old is None or new is None:
                problems.append(f"metric {metric}: {old} -> {new} (appeared or disappeared)")
                continue
            if not all(isinstance(v, (int, float)) for v in (old, new)):
                if old != new:
                    problems.append(f"metric {metric}: {old!r} -> {new!r}")
                continue
            tol = tolerance_for(metric, tolerances)
            if abs(new - old) > tol + 1e-12:
                problems.append(f"metric {metric}: {old} -> {new} moved {new - old:+.6g}, tolerance {tol}")
    return problems


def dvc_metrics_diff(ref: str) -> dict[str, Any]:
    r = subprocess.run([sys.executable, "-m", "dvc", "metrics", "diff", ref, "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        raise ConfigError(f"dvc metrics diff {ref} failed: {r.stderr.strip()}")
    return json.loads(r.stdout or "{}")


def verify(
    ref: str = "HEAD", tolerances_file: Path = Path(".ci/metric_tolerances.yaml"), lock_file: Path = Path("dvc.lock")
) -> list[str]:
    old_lock = yaml.safe_load(_git_show(ref, str(lock_file)))
    new_lock = yaml.safe_load(lock_file.read_text())
    tolerances = (yaml.safe_load(tolerances_file.read_text()) or {}).get("tolerances") or {}
    return hash_changes(old_lock, new_lock) + metric_violations(dvc_metrics_diff(ref), tolerances)


def report(problems: list[str], ref: str) -> int:
    """Print the problems (stderr) and a summary line; the exit status."""
    for p in problems:
        print(f"verify: {p}", file=sys.stderr)
    print(
        f"verify: {'FAILED, ' + str(len(problems)) + ' problem(s)' if problems else 'ok'}: "
        f"data-stage hashes and metrics against {ref}"
    )
    return 1 if problems else 0
