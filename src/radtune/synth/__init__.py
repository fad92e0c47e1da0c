"""Deterministic synthetic raw datasets, one generator per variant."""

from __future__ import annotations

from pathlib import Path

from radtune.errors import ConfigError


def generate(variant: str, out_dir: Path, *, n: int, seed: int) -> dict:
    """Write the synthetic raw inputs of `variant` into `out_dir`; return a summary."""
    if variant in ("pedirad_8k", "pedirad-8k"):
        from radtune.synth.pedirad import generate as gen
    elif variant in ("ct_v4", "ct-v4"):
        from radtune.synth.ct_v4 import generate as gen
    else:
        raise ConfigError(f"synth: unknown variant {variant!r} (known: pedirad_8k, ct_v4)")
    return gen(Path(out_dir), n=n, seed=seed)
