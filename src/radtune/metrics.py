"""Radiology metrics for generated answers (seed 001's `RadiologyMetrics`).

    from radtune.metrics import RadiologyMetrics, parse_json_predictions
    m = RadiologyMetrics()
    m.bone_age_mae(pred_months, gt_months)
    m.bone_age_within_months(pred_months, gt_months, margin_months=2.0)
    m.fracture_f1(pred, gt)          # {"f1", "precision", "recall", "accuracy"}
    m.rop_auc(labels_dict, predictions_dict)   # {class: AUC}

Conventions: sequences are aligned element by element; a prediction of None (a malformed or
missing answer) counts as WRONG: in `fracture_f1` it becomes the opposite of the truth (a
missed fracture or a false alarm), in `bone_age_within_months` it is outside the margin.
`bone_age_mae` needs numbers (the caller decides what stands in for a missing answer).
Pairs whose ground truth is None are skipped by the bone-age metrics (no label, no error).
Empty inputs give NaN."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_DECODER = json.JSONDecoder()


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _pairs(pred: Sequence[Any], gt: Sequence[Any]) -> list[tuple[Any, float]]:
    if len(pred) != len(gt):
        raise ValueError(f"predictions ({len(pred)}) and ground truth ({len(gt)}) differ in length")
    return [(p, float(g)) for p, g in zip(pred, gt) if _is_number(g)]


def binary_scores(pred: Sequence[bool | None], gt: Sequence[bool]) -> dict[str, float]:
    """F1, precision, recall, accuracy with True = positive class; a None prediction
    (malformed answer) counts as wrong. Precision/recall/F1 with no predicted/actual
    positives are 0 (scikit-learn's zero_division=0)."""
    if len(pred) != len(gt):
        raise ValueError(f"predictions ({len(pred)}) and ground truth ({len(gt)}) differ in length")
    if not gt:
        return {"f1": math.nan, "precision": math.nan, "recall": math.nan, "accuracy": math.nan}
    truth = [bool(g) for g in gt]
    said = [(not g) if p is None else bool(p) for p, g in zip(pred, truth)]
    tp = sum(p and g for p, g in zip(said, truth))
    fp = sum(p and not g for p, g in zip(said, truth))
    fn = sum(g and not p for p, g in zip(said, truth))
    correct = sum(p == g for p, g in zip(said, truth))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {"f1": f1, "precision": precision, "recall": recall, "accuracy": correct / len(truth)}


def round4(x: float | None) -> float | None:
    """A metric value for metrics JSON: 4 decimals; None for a missing value or NaN."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 4)


def answer_bool(answer: Mapping[str, Any] | None, key: str) -> bool | None:
    """`answer[key]` if the parsed answer has it as a JSON boolean, else None (= wrong)."""
    value = answer.get(key) if answer else None
    return value if isinstance(value, bool) else None


def wilson_ci95(correct: int, n: int) -> list[float] | None:
    """The 95 % Wilson score interval [lo, hi] of a proportion correct/n (None for n = 0)."""
    if n <= 0:
        return None
    z = 1.959963984540054
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def accuracy(name: str, hits: Sequence[bool]) -> dict[str, Any]:
    """{name: accuracy, name_ci95: its Wilson interval} of per-case hits (None for no cases)."""
    n = len(hits)
    return {name: round4(sum(hits) / n) if n else None, f"{name}_ci95": wilson_ci95(sum(hits), n)}


def bootstrap_ci95(errors: Sequence[float], seed: int = 0, draws: int = 2000) -> list[float] | None:
    """A 95 % percentile-bootstrap interval of the mean of `errors` (seeded: same inputs, same
    interval); None for no errors."""
    import numpy as np

    if not errors:
        return None
    e = np.asarray(errors, dtype=float)
    means = e[np.random.default_rng(seed).integers(0, len(e), size=(draws, len(e)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def resampled_ci95(
    statistic: Callable[[Sequence[int]], float | None], n: int, seed: int = 0, draws: int = 1000
) -> list[float] | None:
    """A 95 % percentile-bootstrap interval of `statistic(indices)` over `draws` seeded
    resamples (with replacement) of the n cases, e.g. an AUC; resamples where it is undefined
    (None or NaN, e.g. one class only) are skipped. None when n is 0 or no resample is defined."""
    import numpy as np

    if n == 0:
        return None
    rng = np.random.default_rng(seed)
    values = [statistic(idx.tolist()) for idx in rng.integers(0, n, size=(draws, n))]
    defined = [v for v in values if v is not None and not math.isnan(v)]
    if not defined:
        return None
    lo, hi = np.percentile(defined, [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def most_common(values: Sequence[Any]) -> Any:
    """The most common value (ties: the smallest by sort order); None for no values."""
    if not values:
        return None
    counts: dict[Any, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return min(counts, key=lambda v: (-counts[v], str(v)))


def majority(values: Sequence[bool]) -> bool:
    """The most common answer of a (train) split; a tie counts as True."""
    return sum(bool(v) for v in values) * 2 >= len(values)


def confusion_rows(gt: Sequence[bool], pred: Sequence[bool | None], positive: str, negative: str) -> list[dict]:
    """{"actual", "predicted"} label rows for a DVC confusion plot; None is "invalid"."""

    def label(v: bool | None) -> str:
        return "invalid" if v is None else (positive if v else negative)

    return [{"actual": label(g), "predicted": label(p)} for g, p in zip(gt, pred)]


def prediction_rows(
    rows: Sequence[Mapping[str, Any]], outputs: Sequence[str], parsed: Sequence[dict | None]
) -> list[dict]:
    """Per-sample records for inspection: id, target, raw output, parsed answer."""
    return [{"id": r["id"], "target": r["target"], "output": o, "parsed": p} for r, o, p in zip(rows, outputs, parsed)]


class RadiologyMetrics:
    """Bone age, fracture, hemorrhage and ROP metrics; every method is a pure function of its inputs."""

    def bone_age_mae(self, pred: Sequence[float], gt: Sequence[float | None]) -> float:
        """Mean absolute error in months over the pairs with a ground truth."""
        pairs = _pairs(pred, gt)
        if any(not _is_number(p) for p, _ in pairs):
            raise ValueError("bone_age_mae: every prediction must be a number (substitute missing answers first)")
        return sum(abs(float(p) - g) for p, g in pairs) / len(pairs) if pairs else math.nan

    def bone_age_within_months(
        self, pred: Sequence[float | None], gt: Sequence[float | None], margin_months: float = 2.0
    ) -> float:
        """Fraction of labelled pairs with |pred - gt| <= margin; a None prediction is outside."""
        pairs = _pairs(pred, gt)
        hits = sum(1 for p, g in pairs if _is_number(p) and abs(float(p) - g) <= margin_months)
        return hits / len(pairs) if pairs else math.nan

    def fracture_f1(self, pred: Sequence[bool | None], gt: Sequence[bool]) -> dict[str, float]:
        """Binary metrics with fracture = positive class (see `binary_scores`)."""
        return binary_scores(pred, gt)

    def hemorrhage_f1(self, pred: Sequence[bool | None], gt: Sequence[bool]) -> dict[str, float]:
        """Binary metrics with "hemorrhage present" (any, or of one type) = positive class."""
        return binary_scores(pred, gt)

    def rop_auc(
        self, labels_dict: Mapping[str, Sequence[int]], predictions_dict: Mapping[str, Sequence[float]]
    ) -> dict[str, float]:
        """Per-class one-vs-rest ROC AUC: labels_dict[c] are 0/1 labels, predictions_dict[c]
        scores. A class whose labels are all 0 or all 1 has no AUC (NaN)."""
        out: dict[str, float] = {}
        for cls in sorted(labels_dict):
            if cls not in predictions_dict:
                raise ValueError(f"rop_auc: no predictions for class {cls!r}")
            y, s = [int(v) for v in labels_dict[cls]], [float(v) for v in predictions_dict[cls]]
            if len(y) != len(s):
                raise ValueError(f"rop_auc: class {cls!r} has {len(y)} labels and {len(s)} scores")
            out[cls] = _auc(y, s)
        return out


def _auc(y: Sequence[int], s: Sequence[float]) -> float:
    """Mann-Whitney AUC with ties counted half (equals the area under the ROC curve)."""
    pos = [v for v, t in zip(s, y) if t == 1]
    neg = [v for v, t in zip(s, y) if t == 0]
    if not pos or not neg:
        return math.nan
    # rank-based: O(n log n)
    order = sorted(range(len(s)), key=lambda i: s[i])
    ranks = [0.0] * len(s)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and s[order[j + 1]] == s[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(r for r, t in zip(ranks, y) if t == 1)
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def parse_json_prediction(text: Any) -> dict | None:
    """The first JSON object in `text` (a model's answer), or None. Never raises."""
    if not isinstance(text, str):
        return None
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").removeprefix("json").strip()
    try:
        value = json.loads(stripped)
        return value if isinstance(value, dict) else None
    except (ValueError, RecursionError):
        pass
    start = stripped.find("{")
    while start != -1:
        try:
            value, _ = _DECODER.raw_decode(stripped, start)
            if isinstance(value, dict):
                return value
        except (ValueError, RecursionError):
            pass
        start = stripped.find("{", start + 1)
    return None


def parse_json_predictions(texts: Sequence[Any]) -> list[dict | None]:
    """`parse_json_prediction` over a list: one dict or None per text, never raises."""
    return [parse_json_prediction(t) for t in texts]
