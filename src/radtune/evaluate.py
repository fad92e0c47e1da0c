"""eval: greedy generation on the val and test splits with the merged model, scored by the
variant, plus the image ablation on test.

`evaluate(model_path, data_dir, eval_cfg, seed, variant)` loads the merged model like any
Hugging Face VLM (`AutoModelForImageTextToText` + `AutoProcessor`), answers every prompt
with greedy decoding (`radtune.generation`: batched, left padding, deterministic) and
scores the answers with the variant (which computes its baselines from the train rows).
The test split is answered a second time with every image replaced by a black one of the
same size: the variant's `ablation_metrics` of that run are reported as `<metric>_no_image`
(with their intervals), so a reader sees how much of the score comes from the image.
Where the variant names candidate answers for a row (`Variant.answer_options`, e.g. every
ROP grade), each is also scored by its log-probability given the image and prompt
(`radtune.generation.answer_logprobs`, teacher forcing as in training) for the variant's
AUCs, in both runs.
Val metrics are for choosing recipes and generator settings; test is read once.

The model is loaded as merge saved it (`model.dtype`, the configured attention, on the
host's device); what it is (e.g. the bf16 merge of a QLoRA run, not the NF4 + adapter
model that was trained) is printed from the folder's merge_report.json. An
`eval.max_new_tokens` that would cut a reference answer fails before anything is generated."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radtune.errors import ConfigError
from radtune.generation import answer_logprobs, generate_answers
from radtune.io import read_json, read_jsonl
from radtune.runtime import setup_determinism
from radtune.train.data import blank_images, examples_from_rows
from radtune.variants.base import Scored, Variant


def split_rows(data_dir: Path, split: str, max_samples: int | None) -> list[dict]:
    rows = read_jsonl(Path(data_dir) / "jsonl" / f"{split}.jsonl")
    return rows[:max_samples] if max_samples else rows


def check_answer_budget(tokenizer, rows: list[dict], max_new_tokens: int) -> None:
    """ConfigError naming `eval.max_new_tokens` when a reference answer (+ its end-of-turn
    token) does not fit in it: generation would cut the answer and the JSON would not parse."""
    longest = max((len(tokenizer(r["target"], add_special_tokens=False)["input_ids"]) + 1 for r in rows), default=0)
    if longest > max_new_tokens:
        raise ConfigError(
            f"params: 'eval.max_new_tokens' is {max_new_tokens}, but the longest reference answer needs {longest} "
            f"tokens (with its end of turn): answers would be cut; set it >= {longest}"
        )


def located(
    predictions: list[Mapping[str, Any]],
    rows: list[Mapping[str, Any]],
    data_dir: str | Path,
    sources: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Each prediction with `image` (its processed image: `data_dir` / the row's image_path,
    as the stage was given it, e.g. data/pedirad-8k/processed/test/<id>.jpg) and `source`
    (the input it came from, as the variant names inputs to the user: `Variant.source_names`;
    None where the variant publishes no name), so an answer can be looked at next to its image."""
    image_path = {r["id"]: r["image_path"] for r in rows}
    return [
        {**p, "image": (Path(data_dir) / image_path[p["id"]]).as_posix(), "source": sources.get(p["id"])}
        for p in predictions
    ]


def ablated(metrics: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """`<name>_no_image` (and its `_ci95`) for each ablation metric the scoring produced."""
    return {f"{k}_no_image{tail}": metrics[k + tail] for k in names for tail in ("", "_ci95") if k + tail in metrics}


def evaluate(
    model_path: str | Path,
    data_dir: str | Path,
    eval_cfg: Mapping[str, Any],
    seed: int,
    variant: Variant,
    model_cfg: Mapping[str, Any],
) -> tuple[Scored, dict[str, Any]]:
    """((test metrics, confusion rows, predictions), val metrics) of the model at `model_path`
    (loaded with `model_cfg`'s dtype and attention)."""
    from radtune.merge import REPORT
    from radtune.model.load import load_model, load_processor

    started = time.perf_counter()
    setup_determinism(seed, int(eval_cfg.get("num_threads", 2)), True)
    limit = int(eval_cfg["max_samples"]) if eval_cfg.get("max_samples") else None
    processor = load_processor(model_path)
    split_data = {split: split_rows(Path(data_dir), split, limit) for split in ("val", "test")}
    every_row = [r for rows in split_data.values() for r in rows]
    check_answer_budget(processor.tokenizer, every_row, int(eval_cfg["max_new_tokens"]))
    model = load_model(model_path, model_cfg)
    report = Path(model_path) / REPORT
    if report.exists():
        merged = read_json(report)
        print(f"eval: scoring {merged['evaluated_as']}, trained as {merged['trained_as']}", flush=True)
    train_rows = read_jsonl(Path(data_dir) / "jsonl" / "train.jsonl")

    def answers(examples: list[dict]) -> list[str]:
        return generate_answers(
            model, processor, examples, int(eval_cfg["batch_size"]), int(eval_cfg["max_new_tokens"])
        )

    def option_logprobs(rows: list[dict], examples: list[dict]) -> list[list[float]] | None:
        options = [variant.answer_options(r) for r in rows]
        if not any(options):
            return None
        return answer_logprobs(model, processor, examples, options, int(eval_cfg["batch_size"]))

    def scored_run(rows: list[dict], examples: list[dict]) -> Scored:
        return variant.score(rows, answers(examples), train_rows, option_logprobs(rows, examples))

    scored: dict[str, Scored] = {}
    for split in ("val", "test"):
        rows = split_data[split]
        metrics, confusion, predictions = scored_run(rows, examples_from_rows(rows, data_dir))
        metrics = {f"n_{split}" if k == "n" else k: v for k, v in metrics.items()}
        if split == "test":
            no_image, _, _ = scored_run(rows, blank_images(examples_from_rows(rows, data_dir)))
            metrics |= ablated(no_image, variant.ablation_metrics)
        scored[split] = (metrics, confusion, predictions)
        print(
            f"eval: {split}: {len(rows)} examples, valid JSON {metrics['valid_json_rate']}, "
            f"{variant.headline(metrics)}",
            flush=True,
        )
    print(f"eval: {time.perf_counter() - started:.1f} s", flush=True)
    return scored["test"], scored["val"][0]
