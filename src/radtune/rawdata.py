"""Getting `data/raw` onto a fresh clone: `dvc pull` where a remote has it, else the
deterministic synthetic sample of every dataset variant that defines one (same bytes as
the committed data.dvc hash, so DVC accepts it and git stays clean)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf

from radtune.params import CONF_DIR
from radtune.synth import generate

RAW_ROOT = Path("data/raw")


def synth_variants(conf_dir: Path = CONF_DIR) -> list[tuple[str, Path, int, int]]:
    """(variant, raw_dir, n, seed) for every conf/dataset/*.yaml with a `synth` section."""
    out = []
    for f in sorted((conf_dir / "dataset").glob("*.yaml")):
        c = OmegaConf.load(f)
        if "synth" in c:
            out.append((f.stem, Path(c.raw_dir), int(c.synth.n), int(c.synth.seed)))
    return out


def dvc_pull() -> bool:
    r = subprocess.run([sys.executable, "-m", "dvc", "pull", "data.dvc"], capture_output=True, text=True)
    return r.returncode == 0 and RAW_ROOT.exists()


def ensure_raw() -> str:
    if RAW_ROOT.exists():
        return f"{RAW_ROOT} present"
    if dvc_pull():
        return f"{RAW_ROOT} pulled from the DVC remote"
    for variant, raw_dir, n, seed in synth_variants():
        summary = generate(variant, raw_dir, n=n, seed=seed)
        print(f"synth {variant}: {summary}")
    return f"{RAW_ROOT} regenerated from the synthetic generators (no DVC remote has it)"


if __name__ == "__main__":
    print(ensure_raw())
