"""A bad setting fails before any stage runs, with the stage's own rule; a stage whose inputs
are all rejected stops at once; a failing model-side stage keeps its previous outputs.

(tests/test_run_safety_pipeline.py runs the same through `dvc exp run` / `dvc repro`.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from radtune import params, preflight
from radtune.errors import ConfigError, InputRejected
from radtune.normalize import NormalizeSettings, list_inputs, normalize_one
from radtune.outputs import backup_path, keep_previous
from radtune.params import compose
from radtune.records import records_writer, write_records
from radtune.stagelog import require_some, stage_log, stage_log_to
from radtune.synth import generate
from radtune.variants.pedirad_8k import stages as pedirad_stages
from radtune.windows import parse_window

ROOT = Path(__file__).resolve().parents[1]
WINDOWS = ["file", "auto", "minmax", "bone", "BONE", " brain ", "40,80", "40, 80", "40,0", "40,x", "5000", "foo", ""]


def cfg(*overrides: str):
    return compose(list(overrides), conf_dir=ROOT / "conf")


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """A flat raw folder of a few readable DICOMs (the pedirad synthetic sample)."""
    out = tmp_path_factory.mktemp("raw") / "pedirad-8k"
    generate("pedirad_8k", out, n=6, seed=0)
    return out


# ----------------------------------------------------------------------------- preflight
def test_window_foo_is_refused_naming_the_key(raw: Path) -> None:
    with pytest.raises(ConfigError) as e:
        preflight.check(cfg("dataset.normalize.window=foo"), raw=raw)
    message = str(e.value)
    assert "dataset.normalize.window" in message and "'foo'" in message
    assert "\n" not in message


@pytest.mark.parametrize("window", WINDOWS)
def test_window_check_is_the_rule_normalize_applies(raw: Path, window: str) -> None:
    """check-params refuses a window exactly when normalize cannot resolve it (no value
    passes the check and then fails every image, none is refused that normalize takes)."""
    p = cfg()
    p.dataset.normalize.window = window
    try:
        preflight.check(p, raw=raw)
        refused = False
    except ConfigError as e:
        assert "dataset.normalize.window" in str(e)
        refused = True
    settings = NormalizeSettings(size=64, window=window, auto_percentiles=(1.0, 99.0), jpeg_quality=90, key="k")
    source = list_inputs(raw, {"labels.csv"})[0]
    try:
        record, _ = normalize_one(source, raw, settings)
        stage_refuses = False
        assert record["status"] == "ok", record["reason"]  # a valid window renders a good file
    except ConfigError:
        stage_refuses = True
    assert refused == stage_refuses
    parses = True
    try:
        parse_window(window)
    except ConfigError:
        parses = False
    assert refused == (not parses)


@pytest.mark.parametrize("conf", ["pedirad_8k", "ct_v4"])
def test_valid_params_pass(conf: str, raw: Path) -> None:
    preflight.check(cfg(f"dataset={conf}"), raw=raw)


def test_keep_on_a_flat_folder_is_refused_up_front(raw: Path) -> None:
    with pytest.raises(ConfigError) as e:
        preflight.check(cfg("dataset.stratify.mode=keep"), raw=raw)
    assert "dataset.stratify.mode" in str(e.value) and "train/" in str(e.value)
    preflight.check(cfg("dataset.stratify.mode=stratified"), raw=raw)


def test_keep_with_split_folders_passes(raw: Path, tmp_path: Path) -> None:
    split = tmp_path / "raw"
    for i, f in enumerate(sorted(raw.glob("*.dcm"))):
        dest = split / ("train", "val", "test")[i % 3] / f.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    preflight.check(cfg("dataset.stratify.mode=keep"), raw=split)


def test_stamp_is_the_same_for_every_valid_configuration() -> None:
    a = preflight.stamp(cfg("dataset.normalize.window=file"))
    b = preflight.stamp(cfg("dataset.normalize.window=bone", "train=smoke", "seed=7"))
    assert a == b


def _check_params(root: Path, p) -> subprocess.CompletedProcess:
    (root / "params.yaml").write_text(OmegaConf.to_yaml(p))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    argv = [sys.executable, str(ROOT / "stages/check_params.py"), "--raw", "raw", "--out", "stamp.json"]
    return subprocess.run(argv, cwd=root, capture_output=True, text=True, env=env, timeout=120)


def test_check_params_stage_fails_in_one_line_and_writes_nothing(raw: Path, tmp_path: Path) -> None:
    shutil.copytree(raw, tmp_path / "raw")
    bad = _check_params(tmp_path, cfg("dataset.normalize.window=foo"))
    assert bad.returncode == 1
    line = bad.stderr.strip()
    assert line.startswith("check-params: ") and "dataset.normalize.window" in line and "\n" not in line, bad.stderr
    assert not (tmp_path / "stamp.json").exists()
    good = _check_params(tmp_path, cfg())
    assert good.returncode == 0, good.stderr
    first = (tmp_path / "stamp.json").read_bytes()
    assert _check_params(tmp_path, cfg("dataset.normalize.window='40,80'", "train.learning_rate=0.01")).returncode == 0
    assert (tmp_path / "stamp.json").read_bytes() == first


def _leaves(c, prefix: str = "") -> list[str]:
    out = []
    for k, v in c.items():
        key = f"{prefix}{k}"
        out += _leaves(v, key + ".") if OmegaConf.is_dict(v) and len(v) else [key]
    return out


def _covered(key: str, names: set[str]) -> bool:
    parts = key.split(".")
    return any(".".join(parts[:i]) in names for i in range(1, len(parts) + 1))


@pytest.mark.parametrize("dataset", sorted(p.stem for p in (ROOT / "conf" / "dataset").glob("*.yaml")))
def test_every_setting_has_a_rule(dataset: str) -> None:
    """Every key of every composition (each dataset x model x recipe) is checked by
    check-params (a rule on the key or on a group above it), or named as read by no stage."""
    gaps = set()
    for model in sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml")):
        for train in sorted(p.stem for p in (ROOT / "conf" / "train").glob("*.yaml")):
            p = cfg(f"dataset={dataset}", f"model={model}", f"train={train}")
            names = set(params.rules_for(p)) | set(params.STRUCTURED) | set(params.UNCHECKED)
            gaps |= {k for k in _leaves(p) if not _covered(k, names)}
    assert sorted(gaps) == []


# ----------------------------------------------------------------------------- require_some
def _record(i: int, status: str = "ok", stage: str = "normalize") -> dict:
    return {"source": f"f{i}.dcm", "status": status, "stage": stage, "reason": None if status == "ok" else "bad"}


def test_require_some_refuses_all_rejected_in_one_line() -> None:
    with pytest.raises(InputRejected) as e:
        require_some("stratify", [_record(0, "rejected"), _record(1, "rejected", "stratify")])
    assert "all 2 inputs were rejected" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(InputRejected):
        require_some("normalize", [])
    require_some("stratify", [_record(0, "rejected"), _record(1)])


def test_stage_log_stops_after_its_summary_when_nothing_is_left(capsys) -> None:
    with pytest.raises(InputRejected), stage_log("annotate") as records:
        records += [_record(0, "rejected", "annotate")]
    out = capsys.readouterr()
    assert "annotate: inputs: 1, ok: 0" in out.out and "annotate: rejected: bad" in out.err


def test_streamed_records_are_write_records_bytes(tmp_path: Path) -> None:
    """normalize streams its records (memory flat in the number of images): same bytes as
    write_records, refuses records out of order, and writes nothing when all are rejected."""
    records = [{**_record(i), "shape": [i, 2], "detail": {}, "note": "é"} for i in range(3)] + [_record(3, "rejected")]
    write_records(tmp_path / "whole.json", list(reversed(records)))
    with stage_log_to("normalize", tmp_path / "streamed.json") as tally:
        tally.add(iter(records))
    assert (tmp_path / "streamed.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    assert (tally.inputs, tally.ok, len(tally.rejected)) == (4, 3, 1)
    with pytest.raises(RuntimeError, match="not sorted"), records_writer(tmp_path / "unsorted.json") as write:
        write(records[1])
        write(records[0])
    with pytest.raises(InputRejected), stage_log_to("normalize", tmp_path / "none.json") as tally:
        tally.add([_record(0, "rejected")])
    with stage_log_to("normalize", tmp_path / "empty.json") as tally:
        tally.add([_record(0)])
    assert not (tmp_path / "unsorted.json").exists() and not (tmp_path / "none.json").exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_stratify_keep_on_flat_records_writes_nothing(tmp_path: Path) -> None:
    """The stage-level guard behind check-params: every image rejected -> one line, no output."""
    records = [
        {**_record(i, stage="annotate"), "source_split": None, "quality_score": 0.95, "patient_id": f"p{i}"}
        for i in range(3)
    ]
    annotated = tmp_path / "annotate.json"
    annotated.write_text(json.dumps(records))
    p = cfg("dataset.stratify.mode=keep")
    with pytest.raises(InputRejected, match="all 3 inputs were rejected"):
        pedirad_stages.stratify(p, annotated=annotated, out=tmp_path / "split.json", report=tmp_path / "report.json")
    assert not (tmp_path / "split.json").exists() and not (tmp_path / "report.json").exists()


# ----------------------------------------------------------------------------- keep_previous
def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _outputs(root: Path) -> list[Path]:
    (root / "lora").mkdir(parents=True)
    (root / "lora" / "adapter.bin").write_bytes(b"old adapter")
    (root / "lora" / "README.md").write_text("old card")
    (root / "metrics.json").write_text('{"loss": 1}')
    return [root / "lora", root / "metrics.json", root / "new_only"]


def test_keep_previous_restores_on_failure(tmp_path: Path) -> None:
    outs = _outputs(tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(RuntimeError), keep_previous(outs):
        assert not outs[0].exists()  # the stage writes into an empty place (no stale files)
        outs[0].mkdir()
        (outs[0] / "adapter.bin").write_bytes(b"half-written")
        outs[2].write_text("partial")
        raise RuntimeError("train failed")
    assert _tree(tmp_path) == before
    assert not any(backup_path(p).exists() for p in outs)


def test_keep_previous_restores_on_system_exit(tmp_path: Path) -> None:
    outs = _outputs(tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(SystemExit), keep_previous(outs):
        outs[1].write_text("{}")
        raise SystemExit("merge: logits differ")
    assert _tree(tmp_path) == before


def test_keep_previous_replaces_on_success(tmp_path: Path) -> None:
    outs = _outputs(tmp_path)
    with keep_previous(outs):
        outs[0].mkdir()
        (outs[0] / "adapter.bin").write_bytes(b"new adapter")
        outs[1].write_text('{"loss": 0.5}')
    assert _tree(tmp_path) == {"lora/adapter.bin": b"new adapter", "metrics.json": b'{"loss": 0.5}'}


def test_keep_previous_after_a_killed_run_keeps_the_last_complete_outputs(tmp_path: Path) -> None:
    outs = _outputs(tmp_path)
    before = _tree(tmp_path)
    shutil.copytree(outs[0], backup_path(outs[0]))  # a run killed mid-way: the copy is the last good one
    (outs[0] / "adapter.bin").write_bytes(b"half-written")
    with pytest.raises(RuntimeError), keep_previous(outs):
        raise RuntimeError("fails again")
    assert _tree(tmp_path) == before


_SLOW_STAGE = """
import sys, time
from pathlib import Path
from radtune.outputs import keep_previous
from radtune.stagelog import run

out = Path(sys.argv[1])

def main():
    with keep_previous([out]):
        out.write_text("half-written")
        print("writing", flush=True)
        time.sleep(60)

run(main)
"""


def test_a_terminated_stage_puts_the_previous_outputs_back(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(_SLOW_STAGE)
    out = tmp_path / "metrics.json"
    out.write_text('{"loss": 1}')
    proc = subprocess.Popen(
        [sys.executable, str(script), str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline() == "writing\n"
    proc.terminate()  # SIGTERM
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert err.strip().splitlines()[-1] == "train: terminated (SIGTERM)"
    assert out.read_text() == '{"loss": 1}' and not backup_path(out).exists()
