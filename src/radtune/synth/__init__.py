"""Deterministic synthetic raw datasets: each variant's generator (`Variant.synth`), and
the DICOM writing they share (`dicom_writer`)."""

from __future__ import annotations

from pathlib import Path


def generate(variant: str, out_dir: Path, *, n: int, seed: int) -> dict:
    """Write the synthetic raw inputs of `variant` (a `dataset.variant` name) into `out_dir`."""
    from radtune import variants

    return variants.get(variant).synth(Path(out_dir), n=n, seed=seed)
