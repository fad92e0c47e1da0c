"""Scoring pedirad-8k answers: fracture, fracture type and location, bone age, each next to
the baselines a reviewer would try first (the metrics and their rules: `radtune.pediatric`).

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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from radtune.metrics import answer_bool, confusion_rows, parse_json_predictions, prediction_rows
from radtune.metrics import round4 as r4
from radtune.pediatric import FIELDS, bone_age_metrics, field_metrics, fracture_metrics, num


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
        age, said = num(truth.get("bone_age_months")), num(answer.get("bone_age_months"))
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
