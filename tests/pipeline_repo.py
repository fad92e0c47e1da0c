"""A throwaway copy of this repository (git + DVC) with a small synthetic raw set, for
tests that run the real pipeline with `dvc repro`."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf

from radtune.params import compose

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("conf", "stages", "src", "dvc.yaml", "params.yaml", ".dvcignore", ".gitignore")


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{e['PATH']}"
    e.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", DVC_NO_ANALYTICS="1", PYTHONHASHSEED="0")
    return e


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def dvc(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dvc", *args], cwd, check)


def make_repo(dest: Path, params_updates: dict[str, object] | None = None, overrides: list[str] | None = None) -> Path:
    """Copy the pipeline into `dest` (git + DVC initialised), with params composed from conf/
    with Hydra `overrides` (e.g. ["dataset=ct_v4"]) and then `params_updates` applied."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    cfg = compose(overrides, conf_dir=ROOT / "conf") if overrides else OmegaConf.load(dest / "params.yaml")
    for key, value in (params_updates or {}).items():
        OmegaConf.update(cfg, key, value, merge=False)
    (dest / "params.yaml").write_text(OmegaConf.to_yaml(cfg))
    run(["git", "init", "-q"], dest)
    dvc(["init", "-q"], dest)
    dvc(["config", "core.analytics", "false"], dest)
    return dest


def tree_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under folder, by relative path."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".gitignore" not in p.name
    }


def stage_argv(stage: str, params) -> list[str]:
    """The command dvc.yaml runs for `stage` (after `python`), `${...}` resolved from params."""
    import re
    import shlex

    import yaml

    cmd = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]["cmd"]
    cmd = re.sub(r"\$\{([^}]+)\}", lambda m: str(OmegaConf.select(params, m.group(1))), cmd)
    argv = shlex.split(cmd)
    if argv[0] != "python":
        raise ValueError(f"{stage}: expected a python command, got {cmd!r}")
    return argv[1:]
