"""Scoring pedirad-custom answers per task with the seed's metrics API
(`radtune.metrics.RadiologyMetrics`), each metric next to its baselines.

  bone age   pedirad-8k's rules: `bone_age_mae` against `bone_age_chronological_mae` (the
             age in the prompt) and the train mean;
  fractures  pedirad-8k's rules: `fracture_accuracy` against the train majority, type and
             location on the fractures; `distal_radius_sensitivity`: the distal-radius
             fractures the model calls a fracture (the seed's clinical headline);
  ROP        AUCs from the model's likelihoods: eval scores every valid ROP answer
             (`answer_options`: normal, or zone I-III x stage 1-5 x plus yes/no) by its
             log-probability given the image and prompt; softmax over them, then each
             field's marginal probability (P(zone = I), P(plus), P(stage > 0)) is the score.
             `rop_zone_macro_auc`: one-vs-rest AUC of each zone among the eyes with ROP
             (P(zone = c | ROP)), averaged over the zones present; `rop_plus_auc` and
             `rop_any_auc` over all eyes. `zone_i_sensitivity`: the zone-I eyes whose greedy
             answer says zone I (the seed's clinical headline). Chance is 0.5 for every AUC.
Unparseable answers count as wrong; rows without likelihoods get no AUC."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from itertools import product
from pathlib import Path
from typing import Any

from radtune import pediatric as p8
from radtune.export import target_text
from radtune.generation import field_marginals, option_probabilities
from radtune.metrics import (
    RadiologyMetrics,
    accuracy,
    answer_bool,
    confusion_rows,
    most_common,
    parse_json_predictions,
    prediction_rows,
    resampled_ci95,
)
from radtune.metrics import round4 as r4
from radtune.variants.base import Scored

from .tasks import STAGES, ZONES

ROP_TASK = "rop_screening"


def rop_options() -> list[dict[str, Any]]:
    """Every valid ROP answer: normal (no zone, stage 0, no plus), or zone x stage x plus."""
    normal = {"zone": None, "stage": 0, "plus_disease": False}
    return [normal] + [
        {"zone": z, "stage": s, "plus_disease": p} for z, s, p in product(ZONES, STAGES[1:], (False, True))
    ]


ROP_OPTIONS = rop_options()
ROP_OPTION_TEXTS = [target_text(o) for o in ROP_OPTIONS]


def answer_options(row: Mapping[str, Any]) -> list[str]:
    return list(ROP_OPTION_TEXTS) if row.get("task") == ROP_TASK else []


def rop_scores(logprobs: Sequence[float]) -> dict[str, float]:
    """P(zone = c) for c in ZONES, P(plus), P(any ROP) from one eye's option log-probs."""
    probs = option_probabilities(logprobs)
    zone = field_marginals(ROP_OPTIONS, probs, "zone")
    return {
        **{f"zone {z}": zone.get(z, 0.0) for z in ZONES},
        "plus": field_marginals(ROP_OPTIONS, probs, "plus_disease").get(True, 0.0),
        "any": 1.0 - field_marginals(ROP_OPTIONS, probs, "stage").get(0, 0.0),
    }


def rop_metrics(
    targets: list[dict], parsed: list[dict | None], logprobs: Sequence[Sequence[float]] | None, majority_zone: str
) -> dict[str, Any]:
    m = RadiologyMetrics()
    out: dict[str, Any] = {"rop_n": len(targets)}
    said = [p or {} for p in parsed]
    out |= accuracy("rop_stage_accuracy", [s.get("stage") == t["stage"] for s, t in zip(said, targets)])
    out |= accuracy("rop_plus_accuracy", [s.get("plus_disease") is t["plus_disease"] for s, t in zip(said, targets)])
    rop = [(s, t) for s, t in zip(said, targets) if t["zone"]]
    out |= accuracy("rop_zone_accuracy_on_rop", [s.get("zone") == t["zone"] for s, t in rop])
    out |= accuracy("rop_zone_majority_accuracy_on_rop", [majority_zone == t["zone"] for _, t in rop])
    out |= accuracy("zone_i_sensitivity", [s.get("zone") == "I" for s, t in rop if t["zone"] == "I"])
    if logprobs is None:
        return out
    scores = [rop_scores(lp) for lp in logprobs]
    zone_rows = [(sc, t) for sc, t in zip(scores, targets) if t["zone"]]

    def zone_auc(idx: Sequence[int]) -> dict[str, float]:
        """One-vs-rest AUC of each zone among the ROP eyes `idx`, on P(zone = c | ROP)."""
        rows = [zone_rows[i] for i in idx]
        labels = {z: [int(t["zone"] == z) for _, t in rows] for z in ZONES}
        given_rop = [max(sum(sc[f"zone {c}"] for c in ZONES), 1e-300) for sc, _ in rows]
        return m.rop_auc(labels, {z: [sc[f"zone {z}"] / g for (sc, _), g in zip(rows, given_rop)] for z in ZONES})

    def macro(idx: Sequence[int]) -> float | None:
        present = [a for a in zone_auc(idx).values() if not math.isnan(a)]
        return sum(present) / len(present) if present else None

    def auc_of(key: str, truth: Callable[[dict], bool]) -> Callable[[Sequence[int]], float]:
        return lambda idx: m.rop_auc(
            {key: [int(truth(targets[i])) for i in idx]}, {key: [scores[i][key] for i in idx]}
        )[key]

    every_zone = list(range(len(zone_rows)))
    out["rop_zone_macro_auc"] = r4(macro(every_zone))
    out["rop_zone_macro_auc_ci95"] = resampled_ci95(macro, len(zone_rows))
    out |= {f"rop_zone_{z.lower()}_auc": _auc_or_none(a) for z, a in zone_auc(every_zone).items()}
    for name, key, truth in (
        ("rop_plus_auc", "plus", lambda t: t["plus_disease"]),
        ("rop_any_auc", "any", lambda t: t["stage"] > 0),
    ):
        stat = auc_of(key, truth)
        out[name] = _auc_or_none(stat(range(len(targets))))
        out[f"{name}_ci95"] = resampled_ci95(stat, len(targets))
    return out


def _auc_or_none(a: float) -> float | None:
    return None if math.isnan(a) else r4(a)


def distal_radius_sensitivity(targets: list[dict], parsed: list[dict | None]) -> dict[str, Any]:
    hits = [(p or {}).get("fracture") is True for p, t in zip(parsed, targets) if t["location"] == "distal_radius"]
    return accuracy("distal_radius_sensitivity", hits)


def originals(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Rows without the train mix's repeats."""
    return [r for r in rows if not r.get("repeat_of")]


def train_baselines(train_rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """pedirad-8k's baselines (each from the rows that answer its field) + the majority zone
    of the train eyes with ROP; the train mix's repeats left out."""
    rows = originals(train_rows)
    zones = [json.loads(r["target"])["zone"] for r in rows if r["task"] == ROP_TASK]
    return {**p8.train_baselines(rows), "majority_zone": most_common([z for z in zones if z])}


def score(
    rows: Sequence[Mapping[str, Any]],
    outputs: Sequence[str],
    baselines: Mapping[str, Any],
    option_logprobs: Sequence[Sequence[float]] | None = None,
) -> Scored:
    parsed = parse_json_predictions(outputs)
    targets = [json.loads(r["target"]) for r in rows]

    def part(task: str) -> tuple[list[dict], list[dict | None], list[int]]:
        idx = [i for i, r in enumerate(rows) if r["task"] == task]
        return [targets[i] for i in idx], [parsed[i] for i in idx], idx

    metrics: dict[str, Any] = {
        "n": len(rows),
        "valid_json_rate": r4(sum(p is not None for p in parsed) / len(parsed)) if parsed else None,
    }
    t, p, idx = part("bone_age")
    if idx:
        metrics |= p8.bone_age_metrics(t, p, [rows[i]["prompt"] for i in idx], baselines)
    t, p, idx = part("fractures")
    if idx:
        metrics |= {"fracture_n": len(idx), **p8.fracture_metrics(t, p, baselines), **p8.field_metrics(t, p, baselines)}
        metrics |= distal_radius_sensitivity(t, p)
    t, p, idx = part(ROP_TASK)
    if idx:
        lp = [option_logprobs[i] for i in idx] if option_logprobs is not None else None
        metrics |= rop_metrics(t, p, lp, baselines["majority_zone"])
    fx_t, fx_p, _ = part("fractures")
    confusion = confusion_rows(
        [bool(x["fracture"]) for x in fx_t], [answer_bool(x, "fracture") for x in fx_p], "fracture", "no_fracture"
    )
    return metrics, confusion, prediction_rows(rows, outputs, parsed)


def headline(m: Mapping[str, Any]) -> str:
    return (
        f"ROP zone AUC {m.get('rop_zone_macro_auc')}, plus AUC {m.get('rop_plus_auc')}, "
        f"zone I sensitivity {m.get('zone_i_sensitivity')}; "
        f"fracture accuracy {m.get('fracture_accuracy')} (majority {m.get('fracture_majority_accuracy')}); "
        f"bone age MAE {m.get('bone_age_mae')} (chronological age {m.get('bone_age_chronological_mae')})"
    )


def score_bars(m: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    from radtune.figures import bar

    def auc_bars(key: str) -> dict[str, Any]:
        return {"model": bar(m, key), "no image": bar(m, f"{key}_no_image"), "chance": 0.5}

    return {
        "ROP zone macro AUC": auc_bars("rop_zone_macro_auc"),
        "ROP plus disease AUC": auc_bars("rop_plus_auc"),
        "ROP (any stage) AUC": auc_bars("rop_any_auc"),
        "fracture accuracy": p8.accuracy_bars(m, "fracture_accuracy", "fracture_majority_accuracy"),
        "bone age MAE, months (lower is better)": p8.bone_age_bars(m),
    }


def montage_items(image_root: Path, rows: Sequence[Mapping[str, Any]], predictions: Sequence[Mapping[str, Any]]):
    """One tile per scored row: right when every categorical field is right and a bone age
    is within 12 months."""
    by_id = {r["id"]: r for r in rows}
    items = []
    for pred in predictions:
        truth, answer = json.loads(pred["target"]), pred["parsed"] or {}
        right = all(
            answer.get(k) == v
            if k != "bone_age_months"
            else isinstance(answer.get(k), (int, float)) and abs(answer[k] - v) <= 12
            for k, v in truth.items()
        )
        items.append(
            {
                "image": Path(image_root) / by_id[pred["id"]]["image_path"],
                "truth": pred["target"],
                "answer": pred["output"],
                "correct": right,
            }
        )
    return items
