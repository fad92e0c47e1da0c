"""Checkpoints and fingerprints of a training run (exact resume), and the adapter config.

fingerprint(*parts)            sha256 of JSON-encoded parts (params, data hash, base hash, code);
sha256_path(path)              sha256 of a file or of a folder's files (the base weights);
code_fingerprint()             sha256 of the code that determines a run: every radtune/train/*.py
                               and radtune/runtime.py (see CODE_FILES);
save_checkpoint / latest_checkpoint
                               `<dir>/step-NNNNNN.pt`, written atomically, only the newest kept;
                               only a checkpoint with the run's fingerprint is resumed;
checkpoint_state / restore_checkpoint
                               what a checkpoint holds (trainable weights, optimizer, scheduler,
                               CPU + CUDA RNG states, logged history) and putting it back;
canonical_adapter_config(path) peft's adapter_config.json with sorted module lists."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from radtune.runtime import rng_state, set_rng_state

PACKAGE = Path(__file__).resolve().parents[1]  # src/radtune
CODE_FILES = ("train/**/*.py", "runtime.py")  # globs under PACKAGE, see code_fingerprint


def fingerprint(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()


def sha256_named(files: Iterable[tuple[str, Path]]) -> str:
    """sha256 over (name, bytes) of each (name, file), in the given order."""
    h = hashlib.sha256()
    for name, p in files:
        h.update(name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def sha256_path(path: Path) -> str:
    """sha256 over a file, or over (relative name, bytes) of a folder's files."""
    path = Path(path)
    if path.is_file():
        return sha256_named([(path.name, path)])
    return sha256_named((str(p.relative_to(path)), p) for p in sorted(p for p in path.rglob("*") if p.is_file()))


def code_files() -> list[Path]:
    """The source files whose change makes old checkpoints stale (sorted, no duplicates)."""
    return sorted({p for pattern in CODE_FILES for p in PACKAGE.glob(pattern) if p.is_file()})


def code_fingerprint() -> str:
    """16 hex digits over (path relative to radtune/, bytes) of `code_files()`."""
    return sha256_named((p.relative_to(PACKAGE).as_posix(), p) for p in code_files())[:16]


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def checkpoint_state(
    fp: str, step: int, model, optimizer, scheduler, history: Sequence[Sequence[Any]], running: Sequence[float]
) -> dict[str, Any]:
    """Everything a resumed run needs to continue after optimizer step `step` as if never stopped."""
    return {
        "fingerprint": fp,
        "step": step,
        "trainable": trainable_state(model),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(),
        "history": [list(h) for h in history],
        "running": list(running),
    }


def restore_checkpoint(state: dict[str, Any], model, optimizer, scheduler) -> tuple[int, list[list], list[float]]:
    """Put a `checkpoint_state` back (weights, optimizer, scheduler, RNG states); returns
    (step, logged history, running losses since the last log)."""
    named = dict(model.named_parameters())
    with torch.no_grad():
        for n, t in state["trainable"].items():
            named[n].copy_(t)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return int(state["step"]), state["history"], list(state["running"])


def latest_checkpoint(ckpt_dir: Path, fp: str) -> dict[str, Any] | None:
    for path in sorted(Path(ckpt_dir).glob("step-*.pt"), reverse=True):
        state = torch.load(path, map_location="cpu", weights_only=False)
        if state.get("fingerprint") == fp:
            return state
        print(f"train: ignoring checkpoint {path} (made with other params/data/code)", file=sys.stderr)
    return None


def save_checkpoint(ckpt_dir: Path, state: dict[str, Any]) -> Path:
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    path = ckpt_dir / f"step-{state['step']:06d}.pt"
    tmp = path.with_suffix(".pt.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    for old in ckpt_dir.glob("step-*.pt"):
        if old != path:
            old.unlink()
    return path


def canonical_adapter_config(path: Path) -> None:
    """peft keeps target_modules as a set, so its saved order follows Python's per-process
    string hashing; sort it so that the file's bytes are reproducible."""
    config = json.loads(Path(path).read_text(encoding="utf-8"))
    for key in ("target_modules", "exclude_modules"):
        if isinstance(config.get(key), list):
            config[key] = sorted(config[key])
    Path(path).write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
