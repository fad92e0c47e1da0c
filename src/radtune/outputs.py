"""A model-side stage's outputs survive its failure.

DVC removes a stage's outputs before running it, unless they are `persist: true`; train,
merge and eval declare theirs persistent and run inside `keep_previous(outputs)`: the
previous outputs are moved aside (`.<name>.previous` beside each) while the stage runs, are
dropped when it succeeds, and come back when it fails (any exception, Ctrl-C, a one-line
`SystemExit`). So a failed run leaves models/ and metrics/ as dvc.lock records them, and a
successful one leaves no stale file of the old run inside a persistent folder.

A run killed outright (SIGKILL, power loss) leaves the `.previous` copies; the next run of
the stage finds them, drops the half-written outputs and treats the copies as the
previous outputs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

SUFFIX = ".previous"


def backup_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{SUFFIX}")


def remove(path: Path) -> None:
    """Delete a file, symlink or folder (nothing when absent)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def keep_previous(outputs: Iterable[str | os.PathLike]) -> Iterator[None]:
    """Run the block with `outputs` moved aside; if it raises, put them back as they were
    (an output that did not exist before is removed again)."""
    pairs = [(Path(p), backup_path(Path(p))) for p in outputs]
    for path, backup in pairs:
        if backup.exists() or backup.is_symlink():  # a killed run: `path` is half-written
            remove(path)
        elif path.exists() or path.is_symlink():
            os.replace(path, backup)
    try:
        yield
    except BaseException:
        for path, backup in pairs:
            remove(path)
            if backup.exists() or backup.is_symlink():
                os.replace(backup, path)
        raise
    for _, backup in pairs:
        remove(backup)
