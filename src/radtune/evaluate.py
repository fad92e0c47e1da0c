"""eval: greedy generation on the test split with the merged model, radiology metrics.

`evaluate(model_path, data_dir, eval_cfg)` loads the merged model like any Hugging Face
VLM (`AutoModelForImageTextToText` + `AutoProcessor`), answers every test prompt with
greedy decoding (batched, left padding, deterministic), parses the answers robustly and
returns (metrics, confusion rows, per-sample predictions).

Scoring rules (malformed output always counts as wrong):
  fracture          an answer that is not valid JSON, or whose "fracture" is not a boolean,
                    is a wrong answer (a missed fracture / a false alarm);
  bone age MAE      an answer without a numeric "bone_age_months" is scored as if it had
                    predicted the TRAIN mean (the no-information guess), so the MAE stays
                    comparable with `bone_age_mean_predictor_mae`; records without a
                    ground-truth bone age are left out of every bone-age metric;
  within 2 months   an answer without a numeric bone age is outside the margin.
Baselines from the train split: `fracture_majority_accuracy` (always the most common train
answer) and `bone_age_mean_predictor_mae` (always the train mean)."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from radtune.io import read_jsonl
from radtune.metrics import RadiologyMetrics, answer_bool, confusion_rows, majority, parse_json_predictions, \
    prediction_rows
from radtune.metrics import round4 as r4
from radtune.train.collator import prompt_batch
from radtune.train.loop import examples_from_rows, setup_determinism


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def train_baselines(train_rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    targets = [json.loads(r["target"]) for r in train_rows]
    ages = [_num(t.get("bone_age_months")) for t in targets]
    ages = [a for a in ages if a is not None]
    return {"majority_fracture": majority([bool(t["fracture"]) for t in targets]), "bone_age_mean": sum(ages) / len(ages) if ages else 0.0}


@torch.no_grad()
def generate_answers(model, processor, examples: Sequence[Mapping[str, Any]], batch_size: int,
                     max_new_tokens: int) -> list[str]:
    """Greedy answers (special tokens stripped), in the order of `examples`."""
    from tqdm import tqdm

    model.eval()
    out: list[str] = []
    for i in tqdm(range(0, len(examples), batch_size), desc="eval", disable=not sys.stderr.isatty()):
        batch = prompt_batch(processor, examples[i:i + batch_size], padding_side="left")
        batch = {k: v.to(model.device) for k, v in batch.items()}
        if model.dtype in (torch.bfloat16, torch.float16):
            batch["pixel_values"] = batch["pixel_values"].to(model.dtype)
        ids = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
        new = ids[:, batch["input_ids"].shape[1]:]
        out += [t.strip() for t in processor.batch_decode(new, skip_special_tokens=True)]
    return out


def score(test_rows: Sequence[Mapping[str, Any]], outputs: Sequence[str],
          baselines: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict], list[dict]]:
    m = RadiologyMetrics()
    parsed = parse_json_predictions(outputs)
    targets = [json.loads(r["target"]) for r in test_rows]
    gt_fx = [bool(t["fracture"]) for t in targets]
    pred_fx = [answer_bool(p, "fracture") for p in parsed]
    fx = m.fracture_f1(pred_fx, gt_fx)
    baseline = m.fracture_f1([baselines["majority_fracture"]] * len(gt_fx), gt_fx)
    gt_age = [_num(t.get("bone_age_months")) for t in targets]
    pred_age = [_num(p.get("bone_age_months")) if p else None for p in parsed]
    mean = float(baselines["bone_age_mean"])
    # an answer without a numeric bone age is scored as the train-mean guess (see module doc)
    pred_age_filled = [mean if a is None else a for a in pred_age]
    exact = {}
    for key in ("fracture_type", "location"):
        pairs = [(p.get(key) if p else None, t[key]) for p, t in zip(parsed, targets)]
        exact[f"{key}_accuracy"] = sum(p == t for p, t in pairs) / len(pairs) if pairs else math.nan
    n_age = sum(a is not None for a in gt_age)
    metrics = {
        "n_test": len(test_rows),
        "valid_json_rate": r4(sum(p is not None for p in parsed) / len(parsed)) if parsed else None,
        "fracture_f1": r4(fx["f1"]),
        "fracture_precision": r4(fx["precision"]),
        "fracture_recall": r4(fx["recall"]),
        "fracture_accuracy": r4(fx["accuracy"]),
        "fracture_majority_accuracy": r4(baseline["accuracy"]),
        "fracture_type_accuracy": r4(exact["fracture_type_accuracy"]),
        "location_accuracy": r4(exact["location_accuracy"]),
        "bone_age_n": n_age,
        "bone_age_mae": r4(m.bone_age_mae(pred_age_filled, gt_age)),
        "bone_age_mean_predictor_mae": r4(m.bone_age_mae([mean] * len(gt_age), gt_age)),
        "bone_age_within_2mo": r4(m.bone_age_within_months(pred_age, gt_age, margin_months=2.0)),
    }
    return (metrics, confusion_rows(gt_fx, pred_fx, "fracture", "no_fracture"),
            prediction_rows(test_rows, outputs, parsed))


def evaluate(model_path: str | Path, data_dir: str | Path, eval_cfg: Mapping[str, Any], seed: int = 0,
             kind: str = "pedirad"):
    """(metrics, confusion rows, predictions) of the model at `model_path` on the test split;
    `kind` is the dataset kind (ct_coco answers are scored by radtune.ct.evaluate)."""
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
    outputs = generate_answers(model, processor, examples_from_rows(test_rows, data_dir),
                               int(eval_cfg["batch_size"]), int(eval_cfg["max_new_tokens"]))
    if kind == "ct_coco":
        from radtune.ct.evaluate import score_ct

        metrics, confusion, predictions = score_ct(test_rows, outputs, train_rows)
        what = (f"any-hemorrhage accuracy {metrics['hemorrhage_accuracy']} "
                f"(majority {metrics['hemorrhage_majority_accuracy']}), F1 {metrics['hemorrhage_f1']}, "
                f"types macro F1 {metrics['types_macro_f1']}")
    else:
        metrics, confusion, predictions = score(test_rows, outputs, train_baselines(train_rows))
        what = (f"fracture accuracy {metrics['fracture_accuracy']} (majority {metrics['fracture_majority_accuracy']}), "
                f"bone age MAE {metrics['bone_age_mae']} (mean predictor {metrics['bone_age_mean_predictor_mae']})")
    print(f"eval: {len(test_rows)} test examples, valid JSON {metrics['valid_json_rate']}, {what}, "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    return metrics, confusion, predictions
