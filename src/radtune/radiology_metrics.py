"""The metrics API of the system radtune replaces (seed 001, "5. Evaluate"), plus ROC AUC.

    from radtune.radiology_metrics import RadiologyMetrics, parse_json_predictions, macro_auc
    m = RadiologyMetrics()
    mae = m.bone_age_mae(predictions_months, ground_truth_months)
    within_2mo = m.bone_age_within_months(predictions_months, ground_truth_months, margin_months=2.0)
    rop_aucs = m.rop_auc(labels_dict, predictions_dict)   # {name: 0/1 labels}, {name: scores} -> {name: AUC}
    fracture_metrics = m.fracture_f1(fracture_preds, fracture_gt)
    parse_json_predictions(texts)                          # -> [dict | None]
    macro_auc(labels, {class: scores})                     # one-vs-rest macro AUC

A facade over radtune.metrics (the parsing, the bone-age metrics, the binary scores and the
Wilson intervals live there, unchanged); what is new here is a numpy AUC and its handling of
missing values. Conventions (a missing answer is never silently dropped):

- `bone_age_mae` needs a number for every labelled case (the caller substitutes missing
  answers, e.g. with the train mean); `bone_age_within_months` counts a None / NaN
  prediction as outside the margin; pairs whose ground truth is None are skipped (no label).
- `fracture_f1`: a None prediction (unparseable answer) is WRONG: it becomes the opposite of
  the truth (a missed fracture or a false alarm). Keys: precision, recall, f1, accuracy,
  sensitivity (= recall), specificity (true-negative rate); a ratio whose denominator is 0
  is 0.0 (scikit-learn's zero_division=0); empty inputs give NaN.
- AUC (`auc`, `rop_auc`, `macro_auc`): the Mann-Whitney U statistic with ties counted half,
  i.e. the area under the ROC curve. A None or NaN score (unparseable answer) gets the
  lowest score there is (-inf): it ranks below every real score and ties with the other
  missing ones. An AUC that is undefined (the labels hold one class only, or no cases) is
  None. A label of None means "not labelled": that case is skipped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from radtune.metrics import RadiologyMetrics as _BaseMetrics
from radtune.metrics import binary_scores, parse_json_prediction, parse_json_predictions, wilson_ci95

__all__ = [
    "RadiologyMetrics",
    "auc",
    "binary_scores",
    "macro_auc",
    "parse_json_prediction",
    "parse_json_predictions",
    "specificity",
    "wilson_ci95",
]


def _scores(scores: Sequence[Any]) -> np.ndarray:
    """Scores as float64, None / NaN -> -inf (the lowest score: a missing answer)."""
    out = np.array([-np.inf if s is None else float(s) for s in scores], dtype=np.float64)
    out[np.isnan(out)] = -np.inf
    return out


def auc(labels: Sequence[Any], scores: Sequence[Any]) -> float | None:
    """ROC AUC of 0/1 (or bool) `labels` against `scores` (higher = more positive): the
    Mann-Whitney U / (n_pos * n_neg) with tied scores counted half. None / NaN scores rank
    lowest; None labels are skipped; one class only -> None."""
    if len(labels) != len(scores):
        raise ValueError(f"auc: {len(labels)} labels but {len(scores)} scores")
    keep = [i for i, y in enumerate(labels) if y is not None]
    y = np.array([int(labels[i]) for i in keep], dtype=np.int64)
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"auc: labels must be 0/1 (or True/False), got {sorted(set(y.tolist()) - {0, 1})}")
    s = _scores([scores[i] for i in keep])
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    # average ranks (1-based) of tied groups: ties count half in U
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mean_rank = ends - (counts - 1) / 2.0
    rank_sum = float(mean_rank[inverse][y == 1].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def macro_auc(labels: Sequence[str | None], scores: Mapping[str, Sequence[Any]]) -> float | None:
    """One-vs-rest macro AUC: for each class present in `labels`, the AUC of "is this
    class" against `scores[class]`; their unweighted mean. Classes of `scores` absent from
    `labels` are ignored (their AUC is undefined); None labels are skipped. Fewer than two
    classes present -> None."""
    keep = [i for i, c in enumerate(labels) if c is not None]
    present = sorted({labels[i] for i in keep}, key=str)
    if len(present) < 2:
        return None
    missing = [c for c in present if c not in scores]
    if missing:
        raise ValueError(f"macro_auc: no scores for class(es) {missing}")
    aucs = []
    for c in present:
        if len(scores[c]) != len(labels):
            raise ValueError(f"macro_auc: class {c!r} has {len(scores[c])} scores for {len(labels)} labels")
        aucs.append(auc([int(labels[i] == c) for i in keep], [scores[c][i] for i in keep]))
    return math.fsum(aucs) / len(aucs)


def specificity(pred: Sequence[bool | None], gt: Sequence[bool]) -> float:
    """True-negative rate; a None prediction is wrong (i.e. positive for a negative case);
    no negative cases -> 0.0; empty -> NaN."""
    if len(pred) != len(gt):
        raise ValueError(f"predictions ({len(pred)}) and ground truth ({len(gt)}) differ in length")
    if not gt:
        return math.nan
    negatives = [p for p, g in zip(pred, gt) if not g]
    return sum(p is not None and not p for p in negatives) / len(negatives) if negatives else 0.0


class RadiologyMetrics(_BaseMetrics):
    """The seed's metrics object: bone age (inherited), fracture with sensitivity and
    specificity, ROP per-class AUC with missing answers handled (see the module doc)."""

    def fracture_f1(self, pred: Sequence[bool | None], gt: Sequence[bool]) -> dict[str, float]:
        """precision, recall, f1, accuracy, sensitivity, specificity; fracture = positive."""
        out = binary_scores(pred, gt)
        return {**out, "sensitivity": out["recall"], "specificity": specificity(pred, gt)}

    def rop_auc(
        self, labels_dict: Mapping[str, Sequence[Any]], predictions_dict: Mapping[str, Sequence[Any]]
    ) -> dict[str, float | None]:
        """{name: AUC} for each name of `labels_dict` (0/1 labels) against
        `predictions_dict[name]` (scores; None = missing, ranked lowest); None where
        undefined (one class only)."""
        out: dict[str, float | None] = {}
        for name in sorted(labels_dict):
            if name not in predictions_dict:
                raise ValueError(f"rop_auc: no predictions for {name!r}")
            if len(labels_dict[name]) != len(predictions_dict[name]):
                raise ValueError(
                    f"rop_auc: {name!r} has {len(labels_dict[name])} labels and {len(predictions_dict[name])} scores"
                )
            out[name] = auc(labels_dict[name], predictions_dict[name])
        return out
