"""radtune.radiology_metrics (the seed's metrics API) against scikit-learn on random inputs
with ties, plus the documented handling of missing answers and undefined AUCs."""

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, mean_absolute_error, precision_score, recall_score, roc_auc_score

from radtune.radiology_metrics import RadiologyMetrics, auc, macro_auc, parse_json_predictions

M = RadiologyMetrics()
SEEDS = range(20)


@pytest.mark.parametrize("seed", SEEDS)
def test_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 200))
    y = rng.integers(0, 2, n)
    y[0], y[1] = 0, 1
    s = np.round(rng.normal(size=n) + y * rng.uniform(0, 2), int(rng.integers(0, 2)))  # many ties
    assert len(np.unique(s)) < n or n < 15
    assert auc(y.tolist(), s.tolist()) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert auc([bool(v) for v in y], s.tolist()) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_auc_missing_scores_rank_lowest_and_tie_with_each_other():
    y = [1, 0, 1, 0, 1, 0]
    s = [0.9, 0.2, None, float("nan"), 0.4, None]
    low = np.array([0.9, 0.2, -1e9, -1e9, 0.4, -1e9])  # an independent stand-in for "lowest"
    assert auc(y, s) == pytest.approx(roc_auc_score(y, low), abs=1e-12)
    # a missing score for a positive case is a wrong answer: it lowers the AUC
    assert auc([1, 0], [None, 0.1]) == 0.0 and auc([1, 0], [0.2, None]) == 1.0
    assert auc([1, 0], [None, None]) == 0.5


def test_auc_undefined_and_bad_inputs():
    assert auc([1, 1, 1], [0.1, 0.2, 0.3]) is None
    assert auc([0, 0], [0.1, 0.2]) is None
    assert auc([], []) is None
    assert auc([1, None, 0], [0.9, 0.5, 0.1]) == 1.0  # unlabelled case skipped
    assert auc([1, None, None], [0.9, 0.5, 0.1]) is None
    with pytest.raises(ValueError, match="0/1"):
        auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="labels but"):
        auc([0, 1], [0.1])


@pytest.mark.parametrize("seed", SEEDS)
def test_rop_auc_per_name_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = 60
    labels = {k: rng.integers(0, 2, n) for k in ("zone_I", "zone_II", "stage_3plus", "plus_disease")}
    preds = {k: np.round(rng.uniform(size=n) * 0.5 + v * 0.4, 1) for k, v in labels.items()}
    got = M.rop_auc({k: v.tolist() for k, v in labels.items()}, {k: v.tolist() for k, v in preds.items()})
    assert list(got) == sorted(labels)
    for k in labels:
        assert got[k] == pytest.approx(roc_auc_score(labels[k], preds[k]), abs=1e-12)


def test_rop_auc_one_class_is_none_and_missing_names_refused():
    got = M.rop_auc({"zone_I": [0, 0, 0], "plus": [0, 1, 1]}, {"zone_I": [0.1, 0.5, 0.2], "plus": [0.3, None, 0.9]})
    assert got["zone_I"] is None
    assert got["plus"] == 0.5  # the missing answer ranks below the negative
    with pytest.raises(ValueError, match="no predictions"):
        M.rop_auc({"a": [0, 1]}, {})
    with pytest.raises(ValueError, match="2 labels and 1 scores"):
        M.rop_auc({"a": [0, 1]}, {"a": [0.3]})


@pytest.mark.parametrize("seed", SEEDS)
def test_macro_auc_matches_sklearn_ovr_macro(seed):
    rng = np.random.default_rng(seed)
    classes = ["I", "II", "III", "none"][: int(rng.integers(3, 5))]
    n = int(rng.integers(len(classes), 120))
    idx = np.concatenate([np.arange(len(classes)), rng.integers(0, len(classes), n - len(classes))])
    labels = [classes[i] for i in idx]
    raw = np.round(rng.uniform(size=(n, len(classes))) + np.eye(len(classes))[idx] * 0.5, 1)
    probs = raw / raw.sum(1, keepdims=True)  # sklearn wants probabilities over the classes
    probs = np.round(probs, 2)
    probs[:, -1] = 1 - probs[:, :-1].sum(1)  # ties survive, rows still sum to 1
    ref = roc_auc_score(labels, probs, multi_class="ovr", average="macro", labels=classes)
    got = macro_auc(labels, {c: probs[:, k].tolist() for k, c in enumerate(classes)})
    assert got == pytest.approx(ref, abs=1e-12)


def test_macro_auc_classes_present_only_and_edge_cases():
    labels = ["I", "II", "II", "I"]
    scores = {"I": [0.9, 0.2, 0.4, 0.6], "II": [0.1, 0.8, 0.6, 0.4], "III": [0.0, 0.0, 0.0, 0.0]}
    # III never occurs: ignored (its AUC is undefined); binary case = the two one-vs-rest AUCs
    assert macro_auc(labels, scores) == pytest.approx(
        (roc_auc_score([1, 0, 0, 1], scores["I"]) + roc_auc_score([0, 1, 1, 0], scores["II"])) / 2
    )
    assert macro_auc(["I", "I"], scores) is None
    assert macro_auc([], {}) is None
    assert macro_auc(["I", None, "II"], {"I": [0.9, 0.0, 0.1], "II": [0.1, 1.0, 0.9]}) == 1.0
    with pytest.raises(ValueError, match="no scores"):
        macro_auc(["I", "II"], {"I": [0.1, 0.2]})


@pytest.mark.parametrize("seed", SEEDS)
def test_fracture_metrics_match_sklearn_with_missing_answers(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    gt = rng.integers(0, 2, n).astype(bool).tolist()
    pred = [None if rng.uniform() < 0.2 else bool(rng.integers(0, 2)) for _ in range(n)]
    wrong = [(not g) if p is None else p for p, g in zip(pred, gt)]  # a missing answer is wrong
    got = M.fracture_f1(pred, gt)
    assert set(got) == {"precision", "recall", "f1", "accuracy", "sensitivity", "specificity"}
    kw = {"zero_division": 0}
    assert got["precision"] == pytest.approx(precision_score(gt, wrong, **kw))
    assert got["recall"] == pytest.approx(recall_score(gt, wrong, **kw))
    assert got["sensitivity"] == got["recall"]
    assert got["f1"] == pytest.approx(f1_score(gt, wrong, **kw))
    assert got["specificity"] == pytest.approx(recall_score(gt, wrong, pos_label=False, **kw))
    assert got["accuracy"] == pytest.approx(np.mean(np.array(wrong) == np.array(gt)))


def test_fracture_metrics_edge_cases():
    got = M.fracture_f1([None, None], [True, False])
    assert got["accuracy"] == 0.0 and got["sensitivity"] == 0.0 and got["specificity"] == 0.0
    got = M.fracture_f1([True, True], [True, True])  # no negatives: specificity 0 (zero_division=0)
    assert got["f1"] == 1.0 and got["specificity"] == 0.0
    assert all(math.isnan(v) for v in M.fracture_f1([], []).values())
    with pytest.raises(ValueError):
        M.fracture_f1([True], [True, False])


@pytest.mark.parametrize("seed", SEEDS)
def test_bone_age_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 100))
    gt = rng.integers(0, 216, n).astype(float)
    pred = gt + np.round(rng.normal(0, 3, n))  # integer errors: exact ties at the margin
    assert M.bone_age_mae(pred.tolist(), gt.tolist()) == pytest.approx(mean_absolute_error(gt, pred))
    for margin in (0.0, 2.0, 3.5):
        assert M.bone_age_within_months(pred.tolist(), gt.tolist(), margin_months=margin) == pytest.approx(
            np.mean(np.abs(pred - gt) <= margin)
        )


def test_bone_age_missing_values():
    assert M.bone_age_within_months([10, None, float("nan")], [10, 12, 14], margin_months=2.0) == pytest.approx(1 / 3)
    assert M.bone_age_mae([10, 99], [12, None]) == 2.0  # no ground truth: skipped
    with pytest.raises(ValueError, match="number"):
        M.bone_age_mae([None], [12])
    assert math.isnan(M.bone_age_within_months([], []))


def test_parse_json_predictions_for_the_three_tasks():
    texts = [
        '{"zone":"II","stage":1,"plus_disease":false}',
        '```json\n{"bone_age_months":51}\n```',
        'Answer: {"fracture":true,"fracture_type":"buckle","location":"distal_radius"} done',
        '{"zone":null,"stage":0,"plus_disease":false}',
        "no json here",
        '{"broken": ',
        None,
        "[1, 2]",
    ]
    assert parse_json_predictions(texts) == [
        {"zone": "II", "stage": 1, "plus_disease": False},
        {"bone_age_months": 51},
        {"fracture": True, "fracture_type": "buckle", "location": "distal_radius"},
        {"zone": None, "stage": 0, "plus_disease": False},
        None,
        None,
        None,
        None,
    ]
