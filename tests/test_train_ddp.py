"""The train stage on two processes (`accelerate launch`, DDP on gloo on this CPU) against
the same stage in one process: both ranks finish, rank 0 alone writes one adapter, and the
result is the single-process one up to float summation order (radtune.train.ddp). Two
ways in: `accelerate launch ... stages/train.py` and `RADTUNE_TRAIN_PROCESSES=2 python
stages/train.py` (what `dvc exp run` starts), which starts itself again through accelerate."""

import json
import os
import shutil
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from safetensors.torch import load_file

from _vlm_fixture import REPO, compose_params, make_data_dir, write_params
from pipeline_repo import stage_argv
from radtune.errors import ConfigError
from radtune.model import load as load_mod
from radtune.train import ddp

DATA, MODELS, METRICS = "data/pedirad-8k", "models/pedirad-8k", "metrics/pedirad_8k"
# no random draws inside a step (dropout, flips, affine, prompt dropout): with them each
# process draws its own, and the runs would differ by more than summation order
TRAIN = {
    "train.max_steps": 4,
    "train.batch_size": 2,
    "train.grad_accum": 4,  # two micro-batches per process and step: accumulated, then summed over processes
    "train.eval_batch_size": 2,  # two val batches: one per process
    "train.max_val_examples": 4,
    "train.eval_steps": 2,
    "train.save_steps": 2,  # rank 0 writes a checkpoint on the way (removed at the end)
    "train.logging_steps": 1,
    "train.num_threads": 1,  # two processes on this 2-core machine
    "train.lora.exclude_modules": ".*vision_tower.*",
    "train.lora.modules_to_save": ["vision_tower", "multi_modal_projector"],
    "train.vision_warmup": {"epochs": 2, "batch_size": 8, "learning_rate": 1e-3},  # runs in every process
}
# float32 summation order only: measured 0 for the losses (to the 6 logged digits) and
# 2.6e-7 for the weights (|w| <= ~1; the largest difference is in an attention key bias,
# whose gradient is zero up to rounding); without the gradient all-reduce: 4.5e-3 and 2e-4
RTOL, ATOL = 1e-5, 1e-5


def run(root, launcher, **env):
    argv = stage_argv("train", compose_params())
    proc = subprocess.run(
        [*launcher, str(REPO / argv[0]), *argv[1:]],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "src"), **env},
        timeout=300,
    )
    assert proc.returncode == 0, f"{launcher} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from radtune.export import write_export
    from radtune.variants.pedirad_8k.prompts import split_rows

    one = tmp_path_factory.mktemp("one_process")
    data = make_data_dir(one / DATA, {"train": 16, "val": 4, "test": 2})
    rows = {split: split_rows(data / "annotations", split) for split in ("train", "val", "test")}
    write_export(data, data / "jsonl", data / "dataset_registry.yml", "pedirad-8k", {}, rows, "fracture")
    write_params(one, overrides=TRAIN)
    two, env = tmp_path_factory.mktemp("two_processes"), tmp_path_factory.mktemp("two_processes_env")
    shutil.copytree(one, two, dirs_exist_ok=True)
    shutil.copytree(one, env, dirs_exist_ok=True)
    # on a CPU host accelerate starts N processes with --multi_gpu (torchrun); radtune picks gloo
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--main_process_port", "0", "--mixed_precision", "no", "--dynamo_backend", "no"]
    return {
        "one": (one, run(one, [sys.executable])),
        "two": (two, run(two, launch)),
        "env": (env, run(env, [sys.executable], RADTUNE_TRAIN_PROCESSES="2")),
    }


@pytest.mark.slow
@pytest.mark.parametrize("way", ["two", "env"])
def test_two_processes_train_like_one(runs, way):
    (one, log1), (two, log2) = runs["one"], runs[way]
    # both ranks finished; rank 0 alone logged the run
    assert "train: process 0 of 2 finished" in log2 and "train: process 1 of 2 finished" in log2
    assert "train: 2 processes; micro-batch j of each step runs in process j mod 2" in log2
    assert log2.count("train: 16 examples, 4 steps (resumed from 0)") == 1
    assert "finished" not in log1 and "processes" not in log1
    # exactly one adapter, written once; the checkpoint rank 0 wrote on the way is gone
    assert sorted(os.listdir(two / MODELS)) == sorted(os.listdir(one / MODELS)) == ["base", "lora"]
    adapter = ["README.md", "adapter_config.json", "adapter_model.safetensors"]
    assert sorted(os.listdir(two / MODELS / "lora")) == adapter
    for name in ("base/model.safetensors", "lora/adapter_config.json"):  # rank 0 built the same base
        assert (two / MODELS / name).read_bytes() == (one / MODELS / name).read_bytes(), name
    # the same optimisation: every logged loss and every adapter weight agree
    m1, m2 = (json.loads((r / METRICS / "train" / "metrics.json").read_text()) for r in (one, two))
    assert m2["step"] == m1["step"] == 4
    assert m2["train"]["loss"] == pytest.approx(m1["train"]["loss"], rel=RTOL)
    assert m2["val"]["loss"] == pytest.approx(m1["val"]["loss"], rel=RTOL)
    curve = "train/plots/metrics/train/loss.tsv"
    c1, c2 = ((r / METRICS / curve).read_text().split() for r in (one, two))
    assert len(c1) == len(c2) == 2 + 2 * 4
    assert [float(v) for v in c2[3::2]] == pytest.approx([float(v) for v in c1[3::2]], rel=RTOL)
    w1, w2 = (load_file(r / MODELS / "lora" / "adapter_model.safetensors") for r in (one, two))
    assert w1.keys() == w2.keys() and any("vision_tower" in k for k in w1)
    moved = [k for k in w1 if not torch.equal(w1[k], torch.zeros_like(w1[k]))]
    assert moved  # trained weights, not an untouched init
    worst = max(float((w2[k] - w1[k]).abs().max()) for k in w1)
    assert worst <= ATOL, f"adapter weights differ by up to {worst:.2e}"


def test_accelerate_cpu_flag_without_mpi_is_refused(monkeypatch):
    """`accelerate launch --cpu --num_processes 2` (no mpirun) starts ONE process: say so, don't
    train alone while the user thinks there are two."""
    ddp.ranks.cache_clear()
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    try:
        with pytest.raises(ConfigError, match="--multi_gpu --num_processes N"):
            ddp.ranks()
        monkeypatch.delenv("MASTER_ADDR")  # `accelerate launch --cpu` with one process is fine
        ddp.ranks.cache_clear()
        assert ddp.ranks() == ddp.Ranks(0, 1)
    finally:
        ddp.ranks.cache_clear()


def test_one_process_needs_no_process_group():
    r = ddp.Ranks()
    assert r.main and list(r.mine(3)) == [0, 1, 2]
    assert r.sum(3, 2.5) == (3, 2.5)  # the values themselves, types kept
    p = torch.nn.Parameter(torch.ones(2))
    r.sum_grads_([p])
    assert p.grad is None
    assert list(ddp.Ranks(1, 2).mine(5)) == [1, 3]


def test_qlora_loads_on_this_process_gpu(monkeypatch):
    """QLoRA under DDP: each process puts its 4-bit base on its own GPU (bitsandbytes needs
    the per-process device map); one process: GPU 0, without asking accelerate."""
    import accelerate

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(accelerate, "PartialState", lambda: pytest.fail("one process must not start accelerate"))
    assert load_mod.quantized_device_map() == {"": 0}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(accelerate, "PartialState", lambda: type("S", (), {"local_process_index": 1})())
    assert load_mod.quantized_device_map() == {"": 1}


@pytest.mark.slow
def test_both_ways_in_are_the_same_run(runs):
    (two, _), (env, _) = runs["two"], runs["env"]
    lora = MODELS + "/lora/adapter_model.safetensors"
    assert (env / lora).read_bytes() == (two / lora).read_bytes()


def test_launch_argv(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv(ddp.PROCESSES, raising=False)
    assert ddp.launch_argv(["stages/train.py", "--x"]) is None
    monkeypatch.setenv(ddp.PROCESSES, "1")
    assert ddp.launch_argv(["stages/train.py", "--x"]) is None
    monkeypatch.setenv(ddp.PROCESSES, "3")
    argv = ddp.launch_argv(["stages/train.py", "--x"])
    assert argv[:6] == [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "3"]
    assert argv[-2:] == ["stages/train.py", "--x"]
    monkeypatch.setenv("WORLD_SIZE", "3")  # already one of the three
    assert ddp.launch_argv(["stages/train.py", "--x"]) is None
