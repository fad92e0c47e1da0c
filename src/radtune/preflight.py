"""check-params: every setting the stages read, checked before any stage runs.

The first stage of dvc.yaml (`stages/check_params.py`) calls `check`; every data stage
depends on what it writes, so a bad setting stops the run in a second, naming the key,
before DVC has removed or rewritten any output. The rules are the stages' own: the key
rules of `radtune.params.validate` (each calls the function the stage uses, e.g.
`radtune.windows.is_window` -> `parse_window`, which normalize uses to resolve a window)
and the variant's `check_inputs` (settings that only the raw inputs can refuse, e.g.
`stratify.mode=keep` on a folder without train/ val/ test/ sub-folders).

`write_stamp` writes the same bytes for every valid configuration of a variant, so a
rerun of check-params (any param changed) does not by itself rerun the stages after it."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from radtune import variants
from radtune.io import write_json
from radtune.params import validate


def check_inputs(p: DictConfig, *, raw: Path) -> None:
    """The variant's settings that only the raw inputs can refuse (params already validated)."""
    variants.get(p.dataset.variant).check_inputs(p, raw=Path(raw))


def check(p: DictConfig, *, raw: Path) -> None:
    """ConfigError (one line naming the key) for the first setting a stage would refuse."""
    validate(p)
    check_inputs(p, raw=raw)


def stamp(p: DictConfig) -> dict:
    """What check-params writes: the same for every valid configuration of a variant."""
    return {"params": "valid", "variant": str(p.dataset.variant)}


def write_stamp(p: DictConfig, out: Path) -> None:
    write_json(out, stamp(p))
