"""eval: greedy generation on the test split with the merged model, scored by the variant.

`evaluate(model_path, data_dir, eval_cfg, seed, variant)` loads the merged model like any
Hugging Face VLM (`AutoModelForImageTextToText` + `AutoProcessor`), answers every test
prompt with greedy decoding (`radtune.generation`: batched, left padding, deterministic)
and returns the variant's (metrics, confusion rows, per-sample predictions); the variant's
scoring parses the answers and computes its baselines from the train rows."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radtune.generation import generate_answers
from radtune.io import read_jsonl
from radtune.runtime import setup_determinism
from radtune.train.data import examples_from_rows
from radtune.variants.base import Scored, Variant


def evaluate(
    model_path: str | Path, data_dir: str | Path, eval_cfg: Mapping[str, Any], seed: int, variant: Variant
) -> Scored:
    """(metrics, confusion rows, predictions) of the model at `model_path` on the test split."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    started = time.perf_counter()
    setup_determinism(seed, int(eval_cfg.get("num_threads", 2)), True)
    data_dir = Path(data_dir)
    test_rows = read_jsonl(data_dir / "jsonl" / "test.jsonl")
    if eval_cfg.get("max_samples"):
        test_rows = test_rows[: int(eval_cfg["max_samples"])]
    train_rows = read_jsonl(data_dir / "jsonl" / "train.jsonl")
    model = AutoModelForImageTextToText.from_pretrained(str(model_path))
    processor = AutoProcessor.from_pretrained(str(model_path))
    outputs = generate_answers(
        model,
        processor,
        examples_from_rows(test_rows, data_dir),
        int(eval_cfg["batch_size"]),
        int(eval_cfg["max_new_tokens"]),
    )
    metrics, confusion, predictions = variant.score(test_rows, outputs, train_rows)
    print(
        f"eval: {len(test_rows)} test examples, valid JSON {metrics['valid_json_rate']}, "
        f"{variant.headline(metrics)}, {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return metrics, confusion, predictions
