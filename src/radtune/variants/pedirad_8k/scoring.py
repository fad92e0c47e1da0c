"""Scoring pedirad-8k answers: fracture, fracture type and location, bone age, each next to
the baselines a reviewer would try first. The metrics, their rules for malformed answers
and their baselines are `radtune.pediatric`'s (shared with pedirad_custom)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from radtune.metrics import answer_bool, confusion_rows, parse_json_predictions, prediction_rows
from radtune.metrics import round4 as r4
from radtune.pediatric import (
    FIELDS,
    accuracy_bars,
    bone_age_bars,
    bone_age_metrics,
    field_metrics,
    fracture_metrics,
    num,
)


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
    return {
        "fracture accuracy": accuracy_bars(m, "fracture_accuracy", "fracture_majority_accuracy"),
        "fracture type accuracy (fractures)": accuracy_bars(
            m, "fracture_type_accuracy_on_fractures", "fracture_type_majority_accuracy_on_fractures"
        ),
        "location accuracy (fractures)": accuracy_bars(
            m, "location_accuracy_on_fractures", "location_majority_accuracy_on_fractures"
        ),
        "bone age MAE, months (lower is better)": bone_age_bars(m),
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
