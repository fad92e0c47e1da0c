"""eval: greedy generation on the val and test splits with the merged model, scored by the
variant, plus the image ablation on test.

`evaluate(model_path, data_dir, eval_cfg, seed, variant)` loads the merged model like any
Hugging Face VLM (`AutoModelForImageTextToText` + `AutoProcessor`), answers every prompt
with greedy decoding (`radtune.generation`: batched, left padding, deterministic) and
scores the answers with the variant (which computes its baselines from the train rows).
The test split is answered a second time with every image replaced by a black one of the
same size: the variant's `ablation_metrics` of that run are reported as `<metric>_no_image`
(with their intervals), so a reader sees how much of the score comes from the image.
Val metrics are for choosing recipes and generator settings; test is read once."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radtune.generation import generate_answers
from radtune.io import read_jsonl
from radtune.runtime import setup_determinism
from radtune.train.data import blank_images, examples_from_rows
from radtune.variants.base import Scored, Variant


def split_rows(data_dir: Path, split: str, max_samples: int | None) -> list[dict]:
    rows = read_jsonl(Path(data_dir) / "jsonl" / f"{split}.jsonl")
    return rows[:max_samples] if max_samples else rows


def ablated(metrics: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """`<name>_no_image` (and its `_ci95`) for each ablation metric the scoring produced."""
    return {f"{k}_no_image{tail}": metrics[k + tail] for k in names for tail in ("", "_ci95") if k + tail in metrics}


def evaluate(
    model_path: str | Path, data_dir: str | Path, eval_cfg: Mapping[str, Any], seed: int, variant: Variant
) -> tuple[Scored, dict[str, Any]]:
    """((test metrics, confusion rows, predictions), val metrics) of the model at `model_path`."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    started = time.perf_counter()
    setup_determinism(seed, int(eval_cfg.get("num_threads", 2)), True)
    model = AutoModelForImageTextToText.from_pretrained(str(model_path))
    processor = AutoProcessor.from_pretrained(str(model_path))
    limit = int(eval_cfg["max_samples"]) if eval_cfg.get("max_samples") else None
    train_rows = read_jsonl(Path(data_dir) / "jsonl" / "train.jsonl")

    def answers(examples: list[dict]) -> list[str]:
        return generate_answers(
            model, processor, examples, int(eval_cfg["batch_size"]), int(eval_cfg["max_new_tokens"])
        )

    scored: dict[str, Scored] = {}
    for split in ("val", "test"):
        rows = split_rows(Path(data_dir), split, limit)
        metrics, confusion, predictions = variant.score(rows, answers(examples_from_rows(rows, data_dir)), train_rows)
        metrics = {f"n_{split}" if k == "n" else k: v for k, v in metrics.items()}
        if split == "test":
            no_image, _, _ = variant.score(rows, answers(blank_images(examples_from_rows(rows, data_dir))), train_rows)
            metrics |= ablated(no_image, variant.ablation_metrics)
        scored[split] = (metrics, confusion, predictions)
        print(
            f"eval: {split}: {len(rows)} examples, valid JSON {metrics['valid_json_rate']}, "
            f"{variant.headline(metrics)}",
            flush=True,
        )
    print(f"eval: {time.perf_counter() - started:.1f} s", flush=True)
    return scored["test"], scored["val"][0]
