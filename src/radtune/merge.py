"""merge: the LoRA adapter folded into the base model, saved as one deployable model.

The base is reloaded UNQUANTISED and in float32 (merging into a 4-bit model would bake
rounding into the weights; merging in bf16 would add bf16 rounding to every weight the
adapter touches), on the host's device, with the configured attention. The adapter is
applied with `PeftModel.from_pretrained` and `merge_and_unload()` folds it in (modules
trained in full via `modules_to_save` replace the originals). Checks:
  1. the merge itself: merged vs adapter model, both float32, on a fixed batch (the first
     `check_samples` test prompts, of unequal length, left-padded), on the real tokens only
     (pad positions carry no meaning and differ between attention kernels): max |logit
     difference| <= `atol`;
  2. the save: the merged model is cast to `model.dtype` and saved; the saved folder,
     reloaded as eval loads it, holds exactly (bit for bit) the cast model's weights.
The cost of the saved dtype (the float32 adapter model's logits vs the reloaded model's, on
the same batch) is measured and reported, not gated: bf16 rounding alone moves the logits of
even a tiny model by ~0.1, so no fixed tolerance would mean anything there.
`merge_report.json` in the merged folder says what was trained and what is evaluated (after
QLoRA: a 4-bit NF4 base + adapter was trained; eval scores the unquantised merge).
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
from radtune.io import read_jsonl, write_json, write_text_atomic
from radtune.model.load import dtype_of, load_base, load_model
from radtune.runtime import batch_to_model, setup_determinism
from radtune.train.collator import prompt_batch
from radtune.train.data import examples_from_rows

REPORT = "merge_report.json"


class MergeMismatch(RuntimeError):
    """The merged model does not compute what the adapter model computes."""


@torch.no_grad()
def batch_logits(model, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """float32 logits at the batch's real (non-pad) tokens: [n real tokens, vocab]."""
    model.eval()
    logits = model(**batch_to_model(batch, model)).logits.float().cpu()
    return logits[batch["attention_mask"].bool()]


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| (6 significant digits), inf when the shapes differ."""
    return float(f"{float((a - b).abs().max()):.6g}") if a.shape == b.shape else float("inf")


def check_close(a: torch.Tensor, b: torch.Tensor, atol: float, what: str) -> float:
    diff = max_diff(a, b)
    if not diff <= atol:
        raise MergeMismatch(f"merge: {what} logits differ by {diff:.3g} > merge.atol {atol}")
    return diff


def check_same_weights(saved, in_memory) -> int:
    """The number of parameters; MergeMismatch naming the first that is not bit-identical."""
    ours = dict(in_memory.named_parameters())
    theirs = dict(saved.named_parameters())
    if set(ours) != set(theirs):
        odd = sorted(set(ours) ^ set(theirs))[:3]
        raise MergeMismatch(f"merge: the saved model's parameters differ in name: {odd}")
    for name, p in ours.items():
        if p.dtype != theirs[name].dtype or not torch.equal(p, theirs[name].to(p.device)):
            raise MergeMismatch(f"merge: saved parameter {name} differs from the merged model's")
    return len(ours)


def trained_as(model_cfg: Mapping[str, Any], quantization: str) -> str:
    if quantization == "4bit":
        return "LoRA on a 4-bit NF4 base (QLoRA)"
    return f"LoRA on a {model_cfg.get('dtype', 'float32')} base"


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
    quantization: str = "none",
) -> dict[str, Any]:
    from peft import PeftModel

    started = time.perf_counter()
    setup_determinism(seed, num_threads, True)
    if not (Path(adapter_dir) / "adapter_config.json").exists():
        raise ConfigError(f"{adapter_dir}: no adapter_config.json; run the train stage first")
    saved_dtype = dtype_of(model_cfg)
    model, processor = load_base(model_cfg, None, base, quantize=False, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, str(adapter_dir))
    batch = prompt_batch(processor, check_examples) if check_examples else None
    before = batch_logits(model, batch) if batch is not None else None
    merged = model.merge_and_unload()
    diffs: dict[str, float] = {}
    if batch is not None:
        diffs["merged_float32"] = check_close(before, batch_logits(merged, batch), atol, "merged vs adapter model")
    merged = merged.to(saved_dtype)
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    merged.save_pretrained(str(out_dir))
    processor.save_pretrained(str(out_dir))
    drop_load_time_keys(out_dir)
    reloaded = load_model(out_dir, model_cfg)  # as eval loads it
    n_params = check_same_weights(reloaded, merged)
    saved_cost = max_diff(before, batch_logits(reloaded, batch)) if batch is not None else None
    summary = {
        "trained_as": trained_as(model_cfg, quantization),
        "evaluated_as": f"the merged model in {str(saved_dtype).removeprefix('torch.')} (this folder)",
        "check_samples": len(check_examples),
        "atol": atol,
        "max_abs_diff": diffs,
        "saved_parameters_identical": n_params,
        "saved_dtype_max_abs_diff": saved_cost,
    }
    write_json(out_dir / REPORT, summary)
    print(
        f"merge: {adapter_dir} + {base} -> {out_dir} ({summary['evaluated_as']}; trained as {summary['trained_as']}); "
        f"logits check on the real tokens of {len(check_examples)} prompts: max |diff| "
        f"{max(diffs.values(), default=0.0):.3g} <= {atol}; {n_params} saved parameters bit-identical; "
        f"the saved dtype moves the logits by "
        f"{saved_cost if saved_cost is None else f'{saved_cost:.3g}'}; {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return summary


def check_examples_from(data_dir: Path, split: str, n: int) -> list[dict[str, Any]]:
    rows = read_jsonl(Path(data_dir) / "jsonl" / f"{split}.jsonl")[:n]
    return examples_from_rows(rows, data_dir)
