"""On a machine with a CUDA GPU, the CUDA path for real (issue 10): the MedGemma stand-in's
pipeline on the GPU (`dvc repro`), QLoRA (bitsandbytes 4-bit) on it, and an exact resume
with the CUDA RNG in the checkpoint. Skipped, with the reason, where there is no GPU; the
same code paths run on the CPU in test_medgemma_standin.py and, mocked, in test_cuda_path.py."""

import importlib.util

import pytest
import torch

from radtune.io import read_json
from test_medgemma_standin import METRICS, MODELS, OVERRIDES, assert_exact_resume, standin_pipeline

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none visible to torch here)"),
    pytest.mark.slow,
]


def test_standin_pipeline_runs_on_the_gpu_and_resumes_exactly(tmp_path):
    root, log = standin_pipeline(tmp_path / "repo")
    gpu = torch.cuda.get_device_name()
    assert f"steps on {gpu}" in log and f"answers on {gpu}" in log
    assert read_json(root / METRICS / "eval.json")["n_test"] > 0
    assert_exact_resume(root)


def test_qlora_on_the_standin(tmp_path):
    if importlib.util.find_spec("bitsandbytes") is None:
        pytest.skip("needs bitsandbytes (pip install -e '.[gpu]')")
    overrides = {k: v for k, v in OVERRIDES.items() if not k.startswith("train.lora")}
    root, log = standin_pipeline(tmp_path / "repo", ["model=medgemma_standin", "train=gpu_smoke"], overrides)
    report = read_json(root / MODELS / "merged" / "merge_report.json")
    assert report["trained_as"] == "LoRA on a 4-bit NF4 base (QLoRA)"
    assert "trained as LoRA on a 4-bit NF4 base" in log
