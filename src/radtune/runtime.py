"""Torch runtime shared by train, merge and eval.

  setup_determinism(seed, num_threads)   fixed thread count, deterministic kernels, seeded RNG;
  batch_to_model(batch, model)           a processor/collator batch on the model's device, with
                                         `pixel_values` in the model's half dtype (bf16 / fp16).

Part of the training code fingerprint (radtune.train.checkpoint.code_fingerprint): a change
here invalidates the resume checkpoints, as a change in radtune/train/ does."""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch

HALF_DTYPES = (torch.bfloat16, torch.float16)


def setup_determinism(seed: int, num_threads: int, deterministic: bool = True) -> None:
    """`torch.set_num_threads`, deterministic algorithms (CUDA: only warned about, with the
    cuBLAS workspace set) and `torch.manual_seed(seed)`."""
    torch.set_num_threads(int(num_threads))
    if deterministic:
        if torch.cuda.is_available():
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=torch.cuda.is_available())
    torch.manual_seed(seed)


def batch_to_model(batch: Mapping[str, torch.Tensor], model) -> dict[str, torch.Tensor]:
    """Every tensor of `batch` on `model.device`; `pixel_values` (float32 from the image
    processor) cast to `model.dtype` when the model runs in bf16 / fp16."""
    out = {k: v.to(model.device) for k, v in batch.items()}
    if "pixel_values" in out and model.dtype in HALF_DTYPES:
        out["pixel_values"] = out["pixel_values"].to(model.dtype)
    return out
