"""A failed run leaves the committed outputs as they were, through DVC itself.

A tiny pipeline repository (48 synthetic images, the smoke recipe, DVC's Hydra integration
on) is run up to `train` and committed. Then:

- `dvc exp run -S dataset.normalize.window=foo` (and `-S dataset.stratify.mode=keep` on the
  flat raw folder) fails within seconds at check-params, naming the key; no other stage
  runs, and `git status` shows only params.yaml (which DVC's composition rewrote) changed;
  `git checkout params.yaml` makes `dvc status` clean again (README: When a run fails);
- fetch refuses the same `stratify.mode=keep` on its own (it reruns on a raw change,
  check-params does not);
- a train that fails after writing new outputs (an injected error, with a changed learning
  rate so that new outputs would differ) leaves models/ and metrics/ byte-identical and
  dvc.lock's train entry as committed."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from pipeline_repo import dvc, make_repo, run, tree_digest
from radtune.outputs import SUFFIX
from radtune.synth import generate

pytestmark = pytest.mark.slow  # one dvc repro (`make test` keeps a module on one worker)

N = 48
RAW = Path("data/raw/pedirad-8k")
KEPT = ("data/pedirad-8k", "models/pedirad-8k", "metrics/pedirad_8k")
GIT = ["git", "-c", "user.name=radtune-test", "-c", "user.email=test@radtune.invalid"]


def digests(root: Path) -> dict[str, dict[str, str]]:
    return {d: tree_digest(root / d) for d in KEPT}


def changed_tracked(root: Path) -> list[str]:
    out = run(["git", "status", "--porcelain", "--untracked-files=no"], root).stdout
    return sorted(line[3:] for line in out.splitlines())


def stages_run(log: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", log)


def restore(root: Path) -> None:
    run(["git", "checkout", "--", "."], root)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = make_repo(tmp_path_factory.mktemp("safety") / "repo", overrides=["train=smoke"])
    # `dvc exp run` composes params.yaml from conf/: the same recipe as the committed params
    config = root / "conf" / "config.yaml"
    config.write_text(re.sub(r"(?m)^  - train: \w+", "  - train: smoke", config.read_text()))
    dvc(["config", "hydra.enabled", "true"], root)
    generate("pedirad_8k", root / RAW, n=N, seed=0)
    (root / ".gitignore").write_text(f"/{RAW.as_posix()}/\n")  # the inputs (data.dvc in the real repository)
    run([*GIT, "add", "-A"], root)
    run([*GIT, "commit", "-qm", "the pipeline"], root)  # dvclive (train) needs a commit
    dvc(["repro", "train"], root)
    run([*GIT, "add", "-A"], root)
    run([*GIT, "commit", "-qm", "a committed run"], root)
    assert changed_tracked(root) == []
    return root


@pytest.mark.parametrize(
    "override, key",
    [
        ("dataset.normalize.window=foo", "dataset.normalize.window"),
        ("dataset.stratify.mode=keep", "dataset.stratify.mode"),  # the raw folder is flat
    ],
)
def test_a_bad_setting_fails_at_once_and_changes_nothing(repo: Path, override: str, key: str) -> None:
    before, lock = digests(repo), (repo / "dvc.lock").read_bytes()
    started = time.perf_counter()
    r = dvc(["exp", "run", "-S", override], repo, check=False)
    seconds = time.perf_counter() - started
    log = r.stdout + r.stderr
    try:
        assert r.returncode != 0, log
        assert seconds < 60, f"took {seconds:.1f} s"  # ~5 s here, mostly DVC's own start-up
        (line,) = [x for x in log.splitlines() if x.startswith("check-params: ")]
        assert key in line and repr(override.split("=")[1]) in line, line
        assert stages_run(log) == ["check-params"], log
        assert changed_tracked(repo) == ["params.yaml"]
        assert (repo / "dvc.lock").read_bytes() == lock
        assert digests(repo) == before
        # README, "When a run fails": restoring params.yaml is all it takes
        run(["git", "checkout", "params.yaml"], repo)
        assert "up to date" in dvc(["status", "train"], repo).stdout
    finally:
        restore(repo)


def test_fetch_rechecks_what_only_the_raw_inputs_can_refuse(repo: Path, tmp_path: Path) -> None:
    """check-params does not depend on the raw folder (dvc.yaml: DVC walks it for fetch
    only), so fetch, which reruns on every raw change, refuses the same settings."""
    params = OmegaConf.load(repo / "params.yaml")
    params.dataset.stratify.mode = "keep"  # the raw folder is flat
    (repo / "params.yaml").write_text(OmegaConf.to_yaml(params))
    try:
        r = run([sys.executable, "stages/fetch.py", "--raw", RAW.as_posix(), "--out", str(tmp_path / "f")], repo, False)
        assert r.returncode != 0 and not (tmp_path / "f").exists()
        (line,) = [x for x in r.stderr.splitlines() if x.startswith("fetch: ")]
        assert "dataset.stratify.mode" in line, line
    finally:
        restore(repo)


def test_a_failing_train_keeps_the_previous_model_and_metrics(repo: Path) -> None:
    before, lock = digests(repo), yaml.safe_load((repo / "dvc.lock").read_text())
    script = repo / "stages" / "train.py"
    # fails after the new base, adapter and dvclive metrics are written, before the figure
    text, n = re.subn(
        r"(?m)^( *)(curves_png\(args\.live)",
        r"\1raise RuntimeError('injected train failure')\n\1\2",
        script.read_text(),
    )
    assert n == 1
    script.write_text(text)
    params = OmegaConf.load(repo / "params.yaml")
    params.train.learning_rate = float(params.train.learning_rate) * 3  # new outputs would differ
    (repo / "params.yaml").write_text(OmegaConf.to_yaml(params))
    try:
        r = dvc(["repro", "train"], repo, check=False)
        log = r.stdout + r.stderr
        assert r.returncode != 0 and "injected train failure" in log, log
        assert digests(repo) == before  # models/, metrics/ (and data/) byte-identical
        assert stages_run(log) == ["check-params", "train"], log
        leftovers = [p for d in KEPT for p in (repo / d).rglob(f"*{SUFFIX}")]
        assert leftovers == []
        after = yaml.safe_load((repo / "dvc.lock").read_text())
        # check-params passed and records the params it checked; nothing else moved
        assert {k: v for k, v in after["stages"].items() if k != "check-params"} == {
            k: v for k, v in lock["stages"].items() if k != "check-params"
        }
        assert changed_tracked(repo) == ["dvc.lock", "params.yaml", "stages/train.py"]
        restore(repo)
        assert "up to date" in dvc(["status", "train"], repo).stdout
    finally:
        restore(repo)
