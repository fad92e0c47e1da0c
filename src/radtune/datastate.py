"""Which data a number describes: the data state.

`data_state(data_dir, published)` is a short hash (12 hex digits) of the published dataset:
sha256 over (path relative to the data folder, sha256 of the file) of every file in the
dataset folders export-jsonl reads (`dataset.layout.final[0:2]`: images and annotations).
It changes iff a published byte changes. Every metrics file carries it as `data_state`:

  augment       metrics/<variant>/dataset.json          computed from what it published
  export-jsonl  <data_dir>/dataset_registry.yml         computed from what it exported
  train / eval  train/metrics.json, eval.json, eval_val.json   copied from the registry

so `dvc exp show` puts the data state next to every metric. When augment publishes a new
state, the model results (train and eval outputs under metrics/) of another state are
removed (`drop_results_of_other_data`): after a data-only experiment (`dvc exp run
augment`, or a run that stops before train) `dvc exp show` shows no model metric rather
than one computed on other data, and the next `dvc repro` recomputes them. Results without
a data state (written before it existed) are kept."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from radtune.export import sha256_file
from radtune.io import read_json, write_json
from radtune.outputs import remove

KEY = "data_state"
LENGTH = 12


def data_state(data_dir: str | Path, published: Iterable[str | Path]) -> str:
    """Short hash of every file under the `published` folders (or files), by path relative
    to `data_dir`, in sorted order."""
    data_dir = Path(data_dir)
    files: list[Path] = []
    for p in map(Path, published):
        files += [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else [p]
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.relative_to(data_dir).as_posix()):
        h.update(f"{f.relative_to(data_dir).as_posix()}\t{sha256_file(f)}\n".encode())
    return h.hexdigest()[:LENGTH]


def stamp(metrics_file: str | Path, state: str | None) -> None:
    """Add `data_state` to a metrics JSON object (first key; nothing when `state` is None)."""
    if state is None:
        return
    metrics = read_json(metrics_file)
    write_json(metrics_file, {KEY: state, **{k: v for k, v in metrics.items() if k != KEY}})


def state_of(metrics_file: str | Path) -> str | None:
    """The data state a metrics JSON names (None: absent, unreadable or not stamped)."""
    p = Path(metrics_file)
    if p.suffix != ".json" or not p.is_file():
        return None
    try:
        metrics = read_json(p)
    except ValueError:
        return None
    return metrics.get(KEY) if isinstance(metrics, dict) else None


def drop_results_of_other_data(results: Iterable[str | Path], state: str) -> list[Path]:
    """Remove every path in `results` (the model stages' metrics, predictions and figures)
    when one of its metrics JSONs names a data state other than `state`; the removed paths."""
    paths = [Path(p) for p in results]
    others = {s for s in map(state_of, paths) if s is not None and s != state}
    if not others:
        return []
    removed = [p for p in paths if p.exists() or p.is_symlink()]
    for p in removed:
        remove(p)
    return removed
