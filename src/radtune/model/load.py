"""Loading the base model and processor, the same way for the tiny model and MedGemma.

`model.build` says where the base comes from: `tiny` = the folder the train stage built
(`<model_dir>/base`), `hub` = `model.id` (e.g. google/medgemma-4b-it; needs the weights
in the local Hugging Face cache or a network). `train.quantization: 4bit` (QLoRA) loads
the base in NF4 through bitsandbytes, which needs a CUDA GPU: that is checked before
anything is loaded.

Every model lands on the host's device (radtune.runtime.device: CUDA when present), in
`model.dtype` (float16 is refused: Gemma 3 overflows in it; bfloat16 on a GPU without bf16
is refused too), with the text attention `model.attn_implementation` and the vision
tower's `model.vision_attn_implementation` (sdpa: eager attention over MedSigLIP's 4096
patches is a 4096 x 4096 matrix per head and layer). Transformers does not save the
attention choice with a model, so every load (train, merge, its check, eval) passes it."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from radtune.errors import ConfigError
from radtune.runtime import device

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


FP16_GEMMA3 = "model.dtype float16: Gemma 3 (MedGemma) overflows in float16 (NaN logits, empty answers); use bfloat16"


def dtype_of(model_cfg: Mapping[str, Any]) -> torch.dtype:
    """The configured weights dtype, checked against the model family and the host."""
    name = model_cfg.get("dtype", "float32")
    if name not in DTYPES:
        raise ConfigError(f"model.dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    if name == "float16":
        raise ConfigError(FP16_GEMMA3)
    if name == "bfloat16" and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        raise ConfigError(
            "model.dtype bfloat16: this GPU has no bf16 support (needs compute capability >= 8.0); "
            "use float32 (or a newer GPU)"
        )
    return DTYPES[name]


def attn_implementation(model_cfg: Mapping[str, Any]) -> dict[str, str] | None:
    """from_pretrained's per-sub-model attention: the text model's `attn_implementation`,
    the vision tower's `vision_attn_implementation` (each only when set)."""
    text, vision = model_cfg.get("attn_implementation"), model_cfg.get("vision_attn_implementation")
    choice = {k: v for k, v in (("", text), ("text_config", text), ("vision_config", vision)) if v}
    return choice or None


def from_pretrained(path: str | Path, model_cfg: Mapping[str, Any], dtype: torch.dtype | None = None, **kwargs):
    """`AutoModelForImageTextToText.from_pretrained` with the configured attention and dtype;
    a hub model that is neither cached nor downloadable is one line naming `model.id`."""
    from transformers import AutoModelForImageTextToText

    attn = attn_implementation(model_cfg)
    if attn:
        kwargs["attn_implementation"] = attn
    try:
        return AutoModelForImageTextToText.from_pretrained(
            str(path), dtype=dtype if dtype is not None else dtype_of(model_cfg), **kwargs
        )
    except OSError as e:
        if Path(path).exists():
            raise
        raise ConfigError(
            f"model.id {path!r}: not in the Hugging Face cache and not downloadable here "
            f"({str(e).splitlines()[0][:160]}); download it on a machine with network access "
            "(huggingface-cli download, after accepting its licence) or use model=tiny_gemma3"
        ) from None


def load_model(path: str | Path, model_cfg: Mapping[str, Any], dtype: torch.dtype | None = None):
    """A saved (merged) model for inference, on the host's device."""
    return from_pretrained(path, model_cfg, dtype).to(device())


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


def quantized_device_map() -> dict[str, int]:
    """bitsandbytes places the 4-bit base on one GPU: GPU 0, or under `accelerate launch` (one
    process per GPU, radtune.train.ddp) this process's, accelerate's local process index (the
    process index on one host; the index within its host on several)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return {"": 0}
    from accelerate import PartialState

    return {"": PartialState().local_process_index}


def load_processor(path: str | Path):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(str(path))


def load_base(
    model_cfg: Mapping[str, Any],
    train_cfg: Mapping[str, Any] | None,
    path: str | Path,
    quantize: bool = True,
    dtype: torch.dtype | None = None,
):
    """(model, processor) for `path`, on the host's device. `quantize=False` always loads
    unquantised (merge, which also passes `dtype=torch.float32`)."""
    train_cfg = train_cfg or {}
    if quantize:
        check_quantization(train_cfg)  # before any weight is read
    if quantize and (train_cfg.get("quantization") or "none") == "4bit":
        model = from_pretrained(
            path, model_cfg, dtype, quantization_config=bnb_config(train_cfg), device_map=quantized_device_map()
        )
    else:
        model = from_pretrained(path, model_cfg, dtype).to(device())
    return model, load_processor(path)
