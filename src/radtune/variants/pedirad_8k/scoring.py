"""Scoring pedirad-8k answers: fracture, fracture type and location, bone age.

Rules (malformed output always counts as wrong):
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
from collections.abc import Mapping, Sequence
from typing import Any

from radtune.metrics import (
    RadiologyMetrics,
    answer_bool,
    confusion_rows,
    majority,
    parse_json_predictions,
    prediction_rows,
)
from radtune.metrics import round4 as r4


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def train_baselines(train_rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    targets = [json.loads(r["target"]) for r in train_rows]
    ages = [_num(t.get("bone_age_months")) for t in targets]
    ages = [a for a in ages if a is not None]
    return {
        "majority_fracture": majority([bool(t["fracture"]) for t in targets]),
        "bone_age_mean": sum(ages) / len(ages) if ages else 0.0,
    }


def score(
    test_rows: Sequence[Mapping[str, Any]], outputs: Sequence[str], baselines: Mapping[str, Any]
) -> tuple[dict[str, Any], list[dict], list[dict]]:
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
    return (
        metrics,
        confusion_rows(gt_fx, pred_fx, "fracture", "no_fracture"),
        prediction_rows(test_rows, outputs, parsed),
    )


def headline(metrics: Mapping[str, Any]) -> str:
    return (
        f"fracture accuracy {metrics['fracture_accuracy']} (majority {metrics['fracture_majority_accuracy']}), "
        f"bone age MAE {metrics['bone_age_mae']} (mean predictor {metrics['bone_age_mean_predictor_mae']})"
    )
