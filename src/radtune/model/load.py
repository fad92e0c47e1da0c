"""Loading the base model and processor, the same way for the tiny model and MedGemma.

`model.build` says where the base comes from: `tiny` = the folder the train stage built
(`<model_dir>/base`), `hub` = `model.id` (e.g. google/medgemma-4b-it; needs the weights
in the local Hugging Face cache or a network). `train.quantization: 4bit` (QLoRA) loads
the base in NF4 through bitsandbytes, which needs a CUDA GPU: that is checked before
anything is loaded."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from radtune.errors import ConfigError

QLORA_NEEDS = (
    "train=qlora needs a CUDA GPU and bitsandbytes (pip install radtune[gpu]); this machine has {what}. Use train=lora."
)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def check_quantization(train_cfg: Mapping[str, Any]) -> None:
    """Raise ConfigError (one line) if the requested quantization cannot run here."""
    quant = train_cfg.get("quantization", "none") or "none"
    if quant == "none":
        return
    if quant != "4bit":
        raise ConfigError(f"train.quantization must be none or 4bit, got {quant!r}")
    missing = []
    if not torch.cuda.is_available():
        missing.append("no CUDA")
    if importlib.util.find_spec("bitsandbytes") is None:
        missing.append("no bitsandbytes")
    if missing:
        raise ConfigError(QLORA_NEEDS.format(what=" and ".join(missing)))


def base_path(model_cfg: Mapping[str, Any], model_dir: str | Path) -> str:
    """Where the base model is loaded from."""
    build = model_cfg.get("build")
    if build == "tiny":
        return str(Path(model_dir) / "base")
    if build == "hub":
        if not model_cfg.get("id"):
            raise ConfigError("model.id must name the base model when model.build is hub")
        return str(model_cfg["id"])
    raise ConfigError(f"model.build must be tiny or hub, got {build!r}")


def dtype_of(model_cfg: Mapping[str, Any]) -> torch.dtype:
    name = model_cfg.get("dtype", "float32")
    if name not in DTYPES:
        raise ConfigError(f"model.dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    return DTYPES[name]


def bnb_config(train_cfg: Mapping[str, Any]):
    from transformers import BitsAndBytesConfig

    q = train_cfg.get("bnb", {}) or {}
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=q.get("quant_type", "nf4"),
        bnb_4bit_use_double_quant=bool(q.get("double_quant", True)),
        bnb_4bit_compute_dtype=DTYPES[q.get("compute_dtype", "bfloat16")],
        bnb_4bit_quant_storage=DTYPES[q.get("compute_dtype", "bfloat16")],
    )


def load_processor(path: str | Path):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(str(path))


def load_base(
    model_cfg: Mapping[str, Any], train_cfg: Mapping[str, Any] | None, path: str | Path, quantize: bool = True
):
    """(model, processor) for `path`. `quantize=False` always loads unquantised (merge)."""
    from transformers import AutoModelForImageTextToText

    train_cfg = train_cfg or {}
    if quantize:
        check_quantization(train_cfg)  # before any weight is read
    kwargs: dict[str, Any] = {"dtype": dtype_of(model_cfg)}
    if model_cfg.get("attn_implementation"):
        kwargs["attn_implementation"] = model_cfg["attn_implementation"]
    if quantize and (train_cfg.get("quantization") or "none") == "4bit":
        kwargs["quantization_config"] = bnb_config(train_cfg)
        kwargs["device_map"] = "auto"
    model = AutoModelForImageTextToText.from_pretrained(str(path), **kwargs)
    return model, load_processor(path)
