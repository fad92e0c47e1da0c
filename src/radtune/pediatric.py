"""What the pediatric radiograph variants (pedirad_8k, pedirad_custom) share: in prompts,
the patient sentence (and reading the age back from it); in scoring, the fracture, fracture-field and bone-age
metrics with their baselines.

Scoring rules (malformed output always counts as wrong):
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
import re
from collections.abc import Mapping, Sequence
from typing import Any

from radtune.metrics import (
    RadiologyMetrics,
    accuracy,
    answer_bool,
    bootstrap_ci95,
    majority,
    most_common,
)
from radtune.metrics import round4 as r4

FIELDS = ("fracture_type", "location")
_SEX = {"M": "male", "F": "female"}


def describe_patient(age_months: Any, sex: Any) -> str:
    known = isinstance(age_months, (int, float)) and not isinstance(age_months, bool)
    age = f"{int(age_months)} months old" if known else "age unknown"
    return f"Patient: {age}, {_SEX.get(str(sex).upper(), 'sex unknown')}."


def prompt_age_months(prompt: str) -> int | None:
    """The age `describe_patient` wrote into a prompt (None when the prompt has none)."""
    m = re.search(r"\bPatient: (\d+) months old,", prompt)
    return int(m[1]) if m else None


def round_months(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    return int(round(float(value)))


def num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def train_baselines(train_rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The baselines' answers from the train rows; each from the rows that answer its field
    (a multi-task set's bone-age rows have no fracture field, and the other way round)."""
    targets = [json.loads(r["target"]) for r in train_rows]
    ages = [a for a in (num(t.get("bone_age_months")) for t in targets) if a is not None]
    fractures = [t for t in targets if t.get("fracture")]
    return {
        "majority_fracture": majority([bool(t["fracture"]) for t in targets if "fracture" in t]),
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
    gt = [num(t.get("bone_age_months")) for t in targets]
    said = [num(p.get("bone_age_months")) if p else None for p in parsed]
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


def accuracy_bars(m: Mapping[str, Any], key: str, majority_key: str) -> dict[str, Any]:
    """An accuracy's bars for the scores figure (radtune.figures.scores_png): the model (with
    its interval), with the images blanked, and the train majority."""
    from radtune.figures import bar

    return {"model": bar(m, key), "no image": bar(m, f"{key}_no_image"), "train majority": bar(m, majority_key)}


def bone_age_bars(m: Mapping[str, Any]) -> dict[str, Any]:
    """The bone-age MAE's bars: the model, with the images blanked, the chronological age, the train mean."""
    from radtune.figures import bar

    return {
        "model": bar(m, "bone_age_mae"),
        "no image": bar(m, "bone_age_mae_no_image"),
        "chronological age": bar(m, "bone_age_chronological_mae"),
        "train mean": bar(m, "bone_age_mean_predictor_mae"),
    }
