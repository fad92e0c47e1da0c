"""RadiologyMetrics against scikit-learn on the same inputs; the parser on junk."""

import json
import math
import random

import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, precision_score, recall_score, roc_auc_score

from radtune.metrics import RadiologyMetrics, bootstrap_ci95, most_common, parse_json_predictions, wilson_ci95
from radtune.pediatric import train_baselines
from radtune.variants.pedirad_8k.scoring import score

M = RadiologyMetrics()


def test_bone_age_mae_matches_sklearn():
    rng = random.Random(1)
    gt = [rng.uniform(2, 144) for _ in range(50)]
    pred = [g + rng.gauss(0, 5) for g in gt]
    assert M.bone_age_mae(pred, gt) == pytest.approx(mean_absolute_error(gt, pred), abs=1e-12)


def test_bone_age_mae_skips_missing_ground_truth():
    pred, gt = [10.0, 20.0, 30.0], [12.0, None, 27.0]
    assert M.bone_age_mae(pred, gt) == pytest.approx(mean_absolute_error([12.0, 27.0], [10.0, 30.0]))
    assert math.isnan(M.bone_age_mae([], []))
    with pytest.raises(ValueError):
        M.bone_age_mae([None], [3.0])


def test_bone_age_within_months():
    gt = [10.0, 20.0, 30.0, 40.0, None]
    pred = [12.0, 22.5, None, 39.0, 5.0]
    # |diff| = 2 (in), 2.5 (out), None (out), 1 (in); the unlabelled pair is skipped
    assert M.bone_age_within_months(pred, gt, margin_months=2.0) == pytest.approx(0.5)
    assert M.bone_age_within_months(pred, gt, margin_months=3.0) == pytest.approx(0.75)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fracture_f1_matches_sklearn(seed):
    rng = random.Random(seed)
    gt = [rng.random() < 0.55 for _ in range(80)]
    pred = [g if rng.random() < 0.75 else not g for g in gt]
    got = M.fracture_f1(pred, gt)
    assert got["f1"] == pytest.approx(f1_score(gt, pred))
    assert got["precision"] == pytest.approx(precision_score(gt, pred))
    assert got["recall"] == pytest.approx(recall_score(gt, pred))
    assert got["accuracy"] == pytest.approx(accuracy_score(gt, pred))


def test_fracture_f1_counts_invalid_as_wrong_and_zero_division():
    gt = [True, True, False, False]
    pred = [True, None, None, False]  # None -> the opposite of the truth
    as_wrong = [True, False, True, False]
    got = M.fracture_f1(pred, gt)
    assert got["f1"] == pytest.approx(f1_score(gt, as_wrong))
    assert got["accuracy"] == pytest.approx(0.5)
    none_pos = M.fracture_f1([False, False], [False, False])
    assert none_pos["f1"] == f1_score([False, False], [False, False], zero_division=0) == 0.0
    assert none_pos["accuracy"] == 1.0


def test_rop_auc_matches_sklearn_per_class():
    rng = random.Random(3)
    labels, preds = {}, {}
    for cls in ("zone_i_stage2", "zone_ii_stage1", "normal"):
        y = [int(rng.random() < 0.4) for _ in range(60)]
        s = [round(rng.random() * 0.6 + 0.4 * t, 1) for t in y]  # rounding makes ties
        labels[cls], preds[cls] = y, s
    got = M.rop_auc(labels, preds)
    assert set(got) == set(labels)
    for cls in labels:
        assert got[cls] == pytest.approx(roc_auc_score(labels[cls], preds[cls]))
    assert math.isnan(M.rop_auc({"a": [1, 1]}, {"a": [0.2, 0.3]})["a"])


def test_parse_json_predictions_never_raises():
    texts = [
        '{"fracture":true,"bone_age_months":51}',
        'Answer: {"fracture": false} thanks',
        '```json\n{"fracture": true}\n```',
        '{"fracture":true,"bone_age_months":',  # truncated
        "no json here",
        "",
        None,
        42,
        "[1, 2]",
        "{{{{",
        '{"a": {"b": [1, {"c": 2}]}}',
        "{" * 5000,
        '"just a string"',
        "{'single': 'quotes'}",
        '{} {"x": 1}',
    ]
    out = parse_json_predictions(texts)
    assert len(out) == len(texts)
    assert out[0] == {"fracture": True, "bone_age_months": 51}
    assert out[1] == {"fracture": False}
    assert out[2] == {"fracture": True}
    assert out[3] is None and out[4] is None and out[5] is None and out[6] is None and out[7] is None
    assert out[8] is None and out[9] is None
    assert out[10] == {"a": {"b": [1, {"c": 2}]}}
    assert out[11] is None and out[12] is None and out[13] is None
    assert out[14] == {}


def _t(fracture: bool, ftype: str, loc: str, bone_age: float | None) -> str:
    return json.dumps({"fracture": fracture, "fracture_type": ftype, "location": loc, "bone_age_months": bone_age})


def test_score_baselines_and_invalid_answers():
    train = [{"target": _t(True, "buckle", "distal_radius", 40)}] * 2 + [
        {"target": _t(True, "greenstick", "radial_shaft", 40)},
        {"target": _t(False, "none", "none", None)},
    ]
    base = train_baselines(train)
    assert base == {
        "majority_fracture": True,
        "bone_age_mean": 40.0,
        "majority_fracture_type": "buckle",
        "majority_location": "distal_radius",
    }
    rows = [
        {"id": "a", "prompt": "Patient: 48 months old, male. ...", "target": _t(True, "buckle", "distal_radius", 50)},
        {"id": "b", "prompt": "Patient: 36 months old, female. ...", "target": _t(False, "none", "none", 30)},
        {"id": "c", "prompt": "Patient: age unknown, male. ...", "target": _t(False, "none", "none", None)},
        {"id": "d", "prompt": "Patient: 60 months old, male. ...", "target": _t(True, "oblique", "ulnar_shaft", None)},
    ]
    outputs = [
        '{"fracture":true,"fracture_type":"buckle","location":"distal_radius","bone_age_months":51}',
        "garbage",
        '{"fracture":"maybe"}',
        '{"fracture":true,"fracture_type":"oblique","location":"distal_radius","bone_age_months":70}',
    ]
    metrics, confusion, preds = score(rows, outputs, base)
    assert metrics["n"] == 4 and metrics["valid_json_rate"] == pytest.approx(0.75)
    assert metrics["fracture_accuracy"] == pytest.approx(0.5)  # a and d are right
    assert metrics["fracture_accuracy_ci95"] == [0.15, 0.85]  # Wilson, 2 of 4
    assert metrics["fracture_majority_accuracy"] == pytest.approx(0.5)
    # type / location on the two fractures (a, d): the model 2/2 and 1/2, the train majority 1/2 and 1/2
    assert metrics["fracture_type_accuracy_on_fractures"] == 1.0
    assert metrics["location_accuracy_on_fractures"] == 0.5
    assert metrics["fracture_type_majority_accuracy_on_fractures"] == 0.5
    assert metrics["location_majority_accuracy_on_fractures"] == 0.5
    # bone age: a -> |51-50| = 1, b invalid -> train mean 40 -> 10; c, d have no ground truth
    assert metrics["bone_age_mae"] == pytest.approx(5.5)
    assert metrics["bone_age_mean_predictor_mae"] == pytest.approx(mean_absolute_error([50, 30], [40, 40]))
    assert metrics["bone_age_chronological_mae"] == pytest.approx(mean_absolute_error([50, 30], [48, 36]))
    assert metrics["bone_age_within_2mo"] == pytest.approx(0.5)
    lo, hi = metrics["bone_age_mae_ci95"]
    assert 1.0 <= lo <= 5.5 <= hi <= 10.0
    assert confusion == [
        {"actual": "fracture", "predicted": "fracture"},
        {"actual": "no_fracture", "predicted": "invalid"},
        {"actual": "no_fracture", "predicted": "invalid"},
        {"actual": "fracture", "predicted": "fracture"},
    ]
    assert [p["parsed"] is None for p in preds] == [False, True, False, False]


@pytest.mark.parametrize("k, n, lo, hi", [(8, 10, 0.4902, 0.9433), (0, 10, 0.0, 0.2775), (58, 58, 0.9379, 1.0)])
def test_wilson_interval(k, n, lo, hi):
    """Reference values: Wilson (1927) score interval, z = 1.96 (as statsmodels' proportion_confint)."""
    assert wilson_ci95(k, n) == pytest.approx([lo, hi], abs=1e-4)
    assert wilson_ci95(0, 0) is None


def test_bootstrap_interval_is_seeded_and_covers_the_mean():
    errors = [1.0, 2.0, 9.0, 4.0, 3.0, 0.5, 7.0]
    assert bootstrap_ci95(errors) == bootstrap_ci95(errors)
    lo, hi = bootstrap_ci95(errors)
    assert lo < sum(errors) / len(errors) < hi and bootstrap_ci95([]) is None


def test_most_common_breaks_ties_by_sort_order():
    assert most_common(["b", "a", "b", "a"]) == "a" and most_common([]) is None
