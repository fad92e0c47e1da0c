"""Scoring pedirad-8k answers: fracture, fracture type and location, bone age, each next to
the baselines a reviewer would try first.

Rules (malformed output always counts as wrong):
  fracture          an answer that is not valid JSON, or whose "fracture" is not a boolean,
                    is a wrong answer (a missed fracture / a false alarm);
  type, location    scored on the cases where they apply: the test FRACTURES
                    (`*_accuracy_on_fractures`); `*_accuracy` over all cases is kept too;
  bone age MAE      an answer without a numeric "bone_age_months" is scored as if it had
                    predicted the TRAIN mean (the no-information guess), so the MAE stays
                    comparable with `bone_age_mean_predictor_mae`; records without a
                    ground-truth bone age are left out of every bone-age metric;
  within 2 months   an answer without a numeric bone age is outside the margin.
Baselines: `fracture_majority_accuracy` (the most common train answer),
`<field>_majority_accuracy_on_fractures` (the most common value among train fractures),
`bone_age_mean_predictor_mae` (the train mean) and `bone_age_chronological_mae` (the
chronological age given in the prompt; the train mean when the prompt has none).
Accuracies carry a 95 % Wilson interval (`<metric>_ci95`), the bone-age MAE a seeded
bootstrap interval."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from radtune.metrics import (
    RadiologyMetrics,
    accuracy,
    answer_bool,
    bootstrap_ci95,
    confusion_rows,
    majority,
    most_common,
    parse_json_predictions,
    prediction_rows,
)
from radtune.metrics import round4 as r4
from radtune.variants.pedirad_8k.prompts import prompt_age_months

FIELDS = ("fracture_type", "location")


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def train_baselines(train_rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    targets = [json.loads(r["target"]) for r in train_rows]
    ages = [a for a in (_num(t.get("bone_age_months")) for t in targets) if a is not None]
    fractures = [t for t in targets if t["fracture"]]
    return {
        "majority_fracture": majority([bool(t["fracture"]) for t in targets]),
        "bone_age_mean": sum(ages) / len(ages) if ages else 0.0,
        **{f"majority_{f}": most_common([t[f] for t in fractures]) for f in FIELDS},
    }


def fracture_metrics(targets: list[dict], parsed: list[dict | None], baselines: Mapping[str, Any]) -> dict[str, Any]:
    m = RadiologyMetrics()
    gt = [bool(t["fracture"]) for t in targets]
    pred = [answer_bool(p, "fracture") for p in parsed]
    fx = m.fracture_f1(pred, gt)
    guess = baselines["majority_fracture"]
    return {
        "fracture_f1": r4(fx["f1"]),
        "fracture_precision": r4(fx["precision"]),
        "fracture_recall": r4(fx["recall"]),
        **accuracy("fracture_accuracy", [p is not None and p == g for p, g in zip(pred, gt)]),
        **accuracy("fracture_majority_accuracy", [guess == g for g in gt]),
    }


def field_metrics(targets: list[dict], parsed: list[dict | None], baselines: Mapping[str, Any]) -> dict[str, Any]:
    """Type and location: over all cases, and on the fractures with the train-majority baseline."""
    out: dict[str, Any] = {}
    for f in FIELDS:
        said = [p.get(f) if p else None for p in parsed]
        out[f"{f}_accuracy"] = accuracy(f, [s == t[f] for s, t in zip(said, targets)])[f]
        on_fx = [(s, t[f]) for s, t in zip(said, targets) if t["fracture"]]
        out |= accuracy(f"{f}_accuracy_on_fractures", [s == g for s, g in on_fx])
        out |= accuracy(f"{f}_majority_accuracy_on_fractures", [baselines[f"majority_{f}"] == g for _, g in on_fx])
    return out


def bone_age_metrics(
    targets: list[dict], parsed: list[dict | None], prompts: list[str], baselines: Mapping[str, Any]
) -> dict[str, Any]:
    m = RadiologyMetrics()
    mean = float(baselines["bone_age_mean"])
    gt = [_num(t.get("bone_age_months")) for t in targets]
    said = [_num(p.get("bone_age_months")) if p else None for p in parsed]
    filled = [mean if a is None else a for a in said]  # a missing answer = the train-mean guess
    chrono = [prompt_age_months(p) for p in prompts]
    chrono_filled = [mean if a is None else float(a) for a in chrono]
    errors = [abs(f - g) for f, g in zip(filled, gt) if g is not None]
    return {
        "bone_age_n": sum(g is not None for g in gt),
        "bone_age_mae": r4(m.bone_age_mae(filled, gt)),
        "bone_age_mae_ci95": bootstrap_ci95(errors),
        "bone_age_within_2mo": r4(m.bone_age_within_months(said, gt, margin_months=2.0)),
        "bone_age_mean_predictor_mae": r4(m.bone_age_mae([mean] * len(gt), gt)),
        "bone_age_chronological_mae": r4(m.bone_age_mae(chrono_filled, gt)),
        "bone_age_chronological_within_2mo": r4(m.bone_age_within_months(chrono_filled, gt, margin_months=2.0)),
    }


def score(
    rows: Sequence[Mapping[str, Any]], outputs: Sequence[str], baselines: Mapping[str, Any]
) -> tuple[dict[str, Any], list[dict], list[dict]]:
    parsed = parse_json_predictions(outputs)
    targets = [json.loads(r["target"]) for r in rows]
    metrics = {
        "n": len(rows),
        "valid_json_rate": r4(sum(p is not None for p in parsed) / len(parsed)) if parsed else None,
        **fracture_metrics(targets, parsed, baselines),
        **field_metrics(targets, parsed, baselines),
        **bone_age_metrics(targets, parsed, [r["prompt"] for r in rows], baselines),
    }
    gt_fx = [bool(t["fracture"]) for t in targets]
    pred_fx = [answer_bool(p, "fracture") for p in parsed]
    return metrics, confusion_rows(gt_fx, pred_fx, "fracture", "no_fracture"), prediction_rows(rows, outputs, parsed)


def headline(metrics: Mapping[str, Any]) -> str:
    return (
        f"fracture accuracy {metrics['fracture_accuracy']} (majority {metrics['fracture_majority_accuracy']}), "
        f"bone age MAE {metrics['bone_age_mae']} (chronological age {metrics['bone_age_chronological_mae']}, "
        f"mean predictor {metrics['bone_age_mean_predictor_mae']})"
    )


def score_bars(m: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each answer field next to its baselines (radtune.figures.scores_png)."""
    from radtune.figures import bar

    def accuracy_bars(key: str, majority_key: str) -> dict[str, Any]:
        return {"model": bar(m, key), "no image": bar(m, f"{key}_no_image"), "train majority": bar(m, majority_key)}

    return {
        "fracture accuracy": accuracy_bars("fracture_accuracy", "fracture_majority_accuracy"),
        "fracture type accuracy (fractures)": accuracy_bars(
            "fracture_type_accuracy_on_fractures", "fracture_type_majority_accuracy_on_fractures"
        ),
        "location accuracy (fractures)": accuracy_bars(
            "location_accuracy_on_fractures", "location_majority_accuracy_on_fractures"
        ),
        "bone age MAE, months (lower is better)": {
            "model": bar(m, "bone_age_mae"),
            "no image": bar(m, "bone_age_mae_no_image"),
            "chronological age": bar(m, "bone_age_chronological_mae"),
            "train mean": bar(m, "bone_age_mean_predictor_mae"),
        },
    }


def montage_items(image_root: Path, rows: Sequence[Mapping[str, Any]], predictions: Sequence[Mapping[str, Any]]):
    """One tile per scored row: right when every field is right and the bone age within 12 months."""
    by_id = {r["id"]: r for r in rows}
    items = []
    for pred in predictions:
        truth, answer = json.loads(pred["target"]), pred["parsed"] or {}
        fields_right = all(answer.get(k) == truth[k] for k in ("fracture", *FIELDS))
        age, said = _num(truth.get("bone_age_months")), _num(answer.get("bone_age_months"))
        age_right = age is None or (said is not None and abs(said - age) <= 12)
        items.append(
            {
                "image": Path(image_root) / by_id[pred["id"]]["image_path"],
                "truth": pred["target"],
                "answer": pred["output"],
                "correct": fields_right and age_right,
            }
        )
    return items
