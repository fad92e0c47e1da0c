"""train=qlora on a machine without CUDA stops at once, with one line, before loading anything."""

import os
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from _vlm_fixture import REPO, compose_params, write_params
from pipeline_repo import stage_argv
from radtune.errors import ConfigError
from radtune.model import load as load_mod

MESSAGE = "train=qlora needs a CUDA GPU and bitsandbytes (pip install radtune[gpu]); this machine has no CUDA"


def test_load_base_refuses_before_reading_weights(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    import transformers

    def must_not_load(*a, **k):
        raise AssertionError("from_pretrained was called")

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", must_not_load)
    cfg = compose_params(model="medgemma_4b", train="qlora")
    with pytest.raises(ConfigError) as e:
        load_mod.load_base(cfg.model, cfg.train, "google/medgemma-4b-it")
    assert str(e.value).startswith(MESSAGE) and str(e.value).endswith("Use train=lora.")
    assert "\n" not in str(e.value)


def test_missing_bitsandbytes_is_named_even_with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    real = load_mod.importlib.util.find_spec
    monkeypatch.setattr(load_mod.importlib.util, "find_spec", lambda n: None if n == "bitsandbytes" else real(n))
    with pytest.raises(ConfigError, match="this machine has no bitsandbytes"):
        load_mod.check_quantization({"quantization": "4bit"})
    load_mod.check_quantization({"quantization": "none"})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")
def test_train_stage_fails_fast_with_one_line(tmp_path):
    write_params(tmp_path, model="medgemma_4b", train="qlora")
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "stages" / "train.py"),
            *stage_argv("train", compose_params(model="medgemma_4b", train="qlora"))[1:],
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("train: " + MESSAGE) and lines[0].endswith("Use train=lora.")
    assert not (tmp_path / "models").exists() and not (tmp_path / "metrics").exists()
    assert time.perf_counter() - started < 60
