"""The train stage as one function: (build the tiny base,) load, fine-tune, write the card.

    run_training(model_cfg, train_cfg, seed, data_dir, model_dir, dataset_id, registry, ...)

- `model.build == "tiny"`: the tokenizer is trained on the exported train split's prompts
  and answers and the base is built into `<model_dir>/base` (see radtune.model.tiny);
- the base is loaded with `AutoModelForImageTextToText` / `AutoProcessor` on the host's
  device (QLoRA: checked for CUDA + bitsandbytes first, before anything is read);
- LoRA training (radtune.train.loop) on the train split, val loss during training;
- the adapter lands in `<model_dir>/lora` with an adapter card (README.md) naming the
  dataset provenance id and its content hash from the dataset registry;
- the training metrics (dvclive's metrics.json) name the registry's data state
  (`radtune.datastate`).

Under `accelerate launch` with several processes (radtune.train.ddp) rank 0 builds the tiny
base while the others wait, every process loads it and trains its share, and rank 0 alone
writes the adapter, its card and the metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from radtune.datastate import stamp
from radtune.export import read_registry_entry
from radtune.io import read_jsonl, write_text_atomic
from radtune.model.load import base_path, check_quantization, load_base
from radtune.runtime import setup_determinism
from radtune.train.checkpoint import sha256_path
from radtune.train.data import examples_from_rows
from radtune.train.ddp import ranks
from radtune.train.loop import TrainResult, train


def plain(cfg: Any) -> Any:
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


def tokenizer_texts(rows: list[dict]) -> list[str]:
    return [r["prompt"] for r in rows] + [r["target"] for r in rows]


def vision_lr_label(train_cfg: Mapping[str, Any]) -> str:
    """The fully trained modules' learning rate as the adapter card gives it."""
    vision_lr = train_cfg.get("vision_learning_rate")
    if vision_lr is None:
        return str(train_cfg["learning_rate"])
    return str(vision_lr) if vision_lr else "0 (frozen after the vision warm-up)"


def adapter_card(
    dataset: Mapping[str, Any],
    base: str,
    model_cfg: Mapping[str, Any],
    train_cfg: Mapping[str, Any],
    result: TrainResult,
) -> str:
    lc = train_cfg["lora"]
    finals = "\n".join(f"| {k} | {v} |" for k, v in sorted(result.final.items()))
    dvc_rows = "".join(f"| dvc_hash {k} | {v} |\n" for k, v in sorted((dataset.get("dvc_hashes") or {}).items()))
    return f"""---
library_name: peft
base_model: {base}
tags: [lora, radiology, pediatric, radtune]
datasets: [{dataset["id"]}]
---

# LoRA adapter: {dataset["id"]} on {model_cfg.get("name", base)}

Made by the radtune `train` stage. Load it on the base model with
`PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained("{base}"), "<this folder>")`,
or use the merged model (`merge` stage).

## Dataset provenance

| key | value |
|---|---|
| dataset_provenance_id | {dataset["id"]} |
| content_hash | {dataset["content_hash"]} |
{dvc_rows}| counts | {json.dumps(dataset.get("counts", {}), sort_keys=True)} |

## Training

| key | value |
|---|---|
| method | {"QLoRA (4-bit NF4)" if train_cfg.get("quantization") == "4bit" else "LoRA"} |
| r / alpha / dropout | {lc["r"]} / {lc["alpha"]} / {lc["dropout"]} |
| target_modules | {json.dumps(plain(lc["target_modules"]))} |
| modules_to_save | {json.dumps(plain(lc.get("modules_to_save") or []))} |
| learning_rate (LoRA / fully trained modules) | {train_cfg["learning_rate"]} / {vision_lr_label(train_cfg)} |
| prompt_dropout / label_smoothing | {train_cfg.get("prompt_dropout", 0.0)} / {train_cfg.get("label_smoothing", 0.0)} |
| epochs / optimizer steps | {train_cfg["epochs"]} / {result.steps} |
| batch_size x grad_accum | {train_cfg["batch_size"]} x {train_cfg["grad_accum"]} |

## Final logged values

| metric | value |
|---|---|
{finals}
"""


def run_training(
    model_cfg: Any,
    train_cfg: Any,
    seed: int,
    data_dir: Path,
    model_dir: Path,
    dataset_id: str,
    registry: Path,
    live_dir: Path | None,
    *,
    blank_text: Callable[[str], str],
    checkpoint_dir: Path | None = None,
    stop_after_step: int | None = None,
) -> TrainResult:
    """Build (tiny) or name the base, fine-tune it on the exported rows, save the adapter and
    its card; `blank_text` is the variant's prompt blanking (`Variant.blank_text`)."""
    model_cfg, train_cfg = plain(model_cfg), plain(train_cfg)
    check_quantization(train_cfg)  # QLoRA without CUDA: stop before loading anything
    r = ranks()  # several processes: starts the process group (and picks this process's GPU)
    # before any model is on a GPU (cuBLAS reads its workspace setting once)
    setup_determinism(seed, int(train_cfg["num_threads"]), bool(train_cfg.get("deterministic", True)))
    started = time.perf_counter()
    data_dir, model_dir = Path(data_dir), Path(model_dir)
    dataset = read_registry_entry(registry, dataset_id)
    jsonl = data_dir / "jsonl"
    train_rows, val_rows = read_jsonl(jsonl / "train.jsonl"), read_jsonl(jsonl / "val.jsonl")
    base = base_path(model_cfg, model_dir)
    if model_cfg["build"] == "tiny" and r.main:
        from radtune.model.tiny import build_tiny_base

        info = build_tiny_base(model_cfg, tokenizer_texts(train_rows), Path(base), seed)
        print(
            f"train: built tiny base in {base} ({info['parameters']} parameters, vocab {info['vocab_size']})",
            flush=True,
        )
    elif r.main:  # a hub model: <model_dir>/base (a stage output) records which one was used
        write_text_atomic(
            model_dir / "base" / "SOURCE.json",
            json.dumps({"build": model_cfg["build"], "id": base}, indent=2, sort_keys=True) + "\n",
        )
    r.barrier()  # the other processes load the base rank 0 built
    model, processor = load_base(model_cfg, train_cfg, base)
    weights = sha256_path(Path(base)) if Path(base).exists() else base
    run_fp = {"model": model_cfg, "train": train_cfg, "seed": seed, "data": dataset["content_hash"], "base": weights}
    val_rows = val_rows[: int(train_cfg.get("max_val_examples") or len(val_rows))]
    result = train(
        model,
        processor,
        examples_from_rows(train_rows, data_dir),
        examples_from_rows(val_rows, data_dir),
        train_cfg,
        seed,
        model_dir / "lora",
        Path(checkpoint_dir or model_dir / "checkpoints"),
        live_dir,
        run_fingerprint=json.dumps(run_fp, sort_keys=True, default=str),
        blank_text=blank_text,
        stop_after_step=stop_after_step,
    )
    if not r.main:
        return result
    write_text_atomic(model_dir / "lora" / "README.md", adapter_card(dataset, base, model_cfg, train_cfg, result))
    if live_dir is not None:  # the training metrics name the data they were computed on
        stamp(Path(live_dir) / "metrics.json", dataset.get("data_state"))
    print(
        f"train: {len(train_rows)} examples, {result.steps} steps (resumed from {result.resumed_from}), "
        f"final {json.dumps(result.final, sort_keys=True)}, {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return result
