"""merge: the LoRA adapter folded into the base model, saved as one deployable model.

The base is always reloaded UNQUANTISED (merging into a 4-bit model would bake rounding
into the weights), the adapter applied with `PeftModel.from_pretrained`, and
`merge_and_unload()` folds it in (modules trained in full via `modules_to_save` replace
the originals). Before saving, the merged model's logits are compared with the adapter
model's on a fixed batch (the first `check_samples` test prompts); after saving, the saved
folder is reloaded and compared again. Any difference beyond `atol` fails the stage.
Model and processor are saved with `save_pretrained` (safetensors): same inputs, same bytes."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from radtune.errors import ConfigError
from radtune.io import read_jsonl, write_text_atomic
from radtune.model.load import load_base
from radtune.runtime import batch_to_model, setup_determinism
from radtune.train.collator import prompt_batch
from radtune.train.data import examples_from_rows


class MergeMismatch(RuntimeError):
    """The merged model does not compute what the adapter model computes."""


@torch.no_grad()
def batch_logits(model, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    model.eval()
    return model(**batch_to_model(batch, model)).logits.float().cpu()


def check_close(a: torch.Tensor, b: torch.Tensor, atol: float, what: str) -> float:
    diff = float((a - b).abs().max())
    if a.shape != b.shape or not torch.allclose(a, b, atol=atol, rtol=0):
        raise MergeMismatch(f"merge: {what} logits differ from the adapter model's by {diff:.3g} > atol {atol}")
    return diff


LOAD_TIME_KEYS = ("local_files_only",)  # from_pretrained kwargs transformers writes back (HF_HUB_OFFLINE)


def drop_load_time_keys(folder: Path) -> None:
    """Remove how-it-was-loaded keys from the saved tokenizer/processor configs, so the
    merged folder's bytes do not depend on the environment (e.g. HF_HUB_OFFLINE set or not)."""
    for path in sorted(Path(folder).glob("*_config.json")):
        config = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(config, dict) and any(k in config for k in LOAD_TIME_KEYS):
            for k in LOAD_TIME_KEYS:
                config.pop(k, None)
            write_text_atomic(path, json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def merge_adapter(
    model_cfg: Mapping[str, Any],
    base: str | Path,
    adapter_dir: Path,
    out_dir: Path,
    check_examples: Sequence[Mapping[str, Any]],
    atol: float,
    num_threads: int = 2,
    seed: int = 0,
) -> dict[str, Any]:
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    started = time.perf_counter()
    setup_determinism(seed, num_threads, True)
    if not (Path(adapter_dir) / "adapter_config.json").exists():
        raise ConfigError(f"{adapter_dir}: no adapter_config.json; run the train stage first")
    model, processor = load_base(model_cfg, None, base, quantize=False)
    model = PeftModel.from_pretrained(model, str(adapter_dir))
    batch = prompt_batch(processor, check_examples) if check_examples else None
    before = batch_logits(model, batch) if batch is not None else None
    merged = model.merge_and_unload()
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    diffs = {}
    if batch is not None:
        diffs["in_memory"] = check_close(before, batch_logits(merged, batch), atol, "merged")
    merged.save_pretrained(str(out_dir))
    processor.save_pretrained(str(out_dir))
    drop_load_time_keys(out_dir)
    if batch is not None:
        reloaded = AutoModelForImageTextToText.from_pretrained(str(out_dir), dtype=merged.dtype)
        diffs["reloaded"] = check_close(before, batch_logits(reloaded, batch), atol, "saved merged model's")
    summary = {"max_abs_diff": diffs, "check_samples": len(check_examples), "atol": atol}
    print(
        f"merge: {adapter_dir} + {base} -> {out_dir}; logits check on {len(check_examples)} prompts, "
        f"max |diff| {max(diffs.values(), default=0.0):.3g} <= {atol}, {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return summary


def check_examples_from(data_dir: Path, split: str, n: int) -> list[dict[str, Any]]:
    rows = read_jsonl(Path(data_dir) / "jsonl" / f"{split}.jsonl")[:n]
    return examples_from_rows(rows, data_dir)
