"""Torch runtime shared by train, merge and eval: where the model runs and how deterministically.

  device()                               CUDA when the host has it, else the CPU (train, merge,
                                         eval and predict all follow the host); device_name(model);
  setup_determinism(seed, num_threads)   fixed thread count, deterministic kernels, seeded RNG;
                                         call it first, before any model is loaded: cuBLAS reads
                                         CUBLAS_WORKSPACE_CONFIG when its first handle is made;
  rng_state() / set_rng_state(state)     the CPU and (when present) every CUDA generator, for
                                         exact resume (LoRA dropout on a GPU draws from CUDA's);
  batch_to_model(batch, model)           a processor/collator batch on the model's device, with
                                         `pixel_values` in the model's half dtype (bf16 / fp16).

Part of the training code fingerprint (radtune.train.checkpoint.code_fingerprint): a change
here invalidates the resume checkpoints, as a change in radtune/train/ does."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

HALF_DTYPES = (torch.bfloat16, torch.float16)
CUBLAS_WORKSPACE = ":4096:8"  # what torch's deterministic mode asks of cuBLAS (CUDA >= 10.2)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(model) -> str:
    """'cpu' or the GPU's name (for logs)."""
    dev = next(model.parameters()).device
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type


def setup_determinism(seed: int, num_threads: int, deterministic: bool = True) -> None:
    """`torch.set_num_threads` (the CPU's share of the work), deterministic algorithms (CUDA:
    only warned about where a kernel has no deterministic version, with the cuBLAS workspace
    set) and `torch.manual_seed(seed)` (seeds every CUDA device too)."""
    torch.set_num_threads(int(num_threads))
    if deterministic:
        if torch.cuda.is_available():
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
        torch.use_deterministic_algorithms(True, warn_only=torch.cuda.is_available())
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """The torch RNG states a training step draws from: CPU (data augmentation, prompt
    dropout) and, on a CUDA host, each device's (dropout on the GPU)."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def batch_to_model(batch: Mapping[str, torch.Tensor], model) -> dict[str, torch.Tensor]:
    """Every tensor of `batch` on `model.device`; `pixel_values` (float32 from the image
    processor) cast to `model.dtype` when the model runs in bf16 / fp16."""
    out = {k: v.to(model.device) for k, v in batch.items()}
    if "pixel_values" in out and model.dtype in HALF_DTYPES:
        out["pixel_values"] = out["pixel_values"].to(model.dtype)
    return out
