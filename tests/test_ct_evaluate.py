"""ct_v4 answer scoring against scikit-learn and pycocotools-derived expectations."""

import json

import pytest
from sklearn.metrics import accuracy_score, f1_score

from radtune.variants.ct_v4.constants import CLASSES
from radtune.variants.ct_v4.scoring import coco_map, score_ct


def _row(i: int, types: list[str], boxes: list | None = None) -> dict:
    t = {"hemorrhage": bool(types), "types": types}
    if boxes is not None:
        t["boxes"] = boxes
    return {"id": f"im{i}", "target": json.dumps(t)}


TRUTH = [["IPH"], [], ["SAH", "SDH"], [], ["EDH"], ["IPH", "IVH"], [], ["HC"]]
ANSWERS = [
    '{"hemorrhage":true,"types":["IPH"]}',
    '{"hemorrhage":false,"types":[]}',
    '{"hemorrhage":true,"types":["SAH"]}',
    '{"hemorrhage":true,"types":["IVH"]}',
    "not json at all",
    '{"hemorrhage":true,"types":["IPH","IVH"]}',
    '{"hemorrhage":false,"types":[]}',
    '{"hemorrhage":"maybe","types":"HC"}',
]


def test_scores_agree_with_scikit_learn():
    rows = [_row(i, t) for i, t in enumerate(TRUTH)]
    train = [_row(0, []), _row(1, []), _row(2, ["IPH"])]
    metrics, confusion, predictions = score_ct(rows, ANSWERS, train)
    y_any = [bool(t) for t in TRUTH]
    # malformed answers (rows 4 and 7) are wrong: their prediction is the opposite of the truth
    p_any = [True, False, True, True, not y_any[4], True, False, not y_any[7]]
    assert metrics["hemorrhage_f1"] == pytest.approx(f1_score(y_any, p_any), abs=1e-4)
    assert metrics["hemorrhage_accuracy"] == pytest.approx(accuracy_score(y_any, p_any), abs=1e-4)
    assert metrics["hemorrhage_majority_accuracy"] == pytest.approx(accuracy_score(y_any, [False] * 8), abs=1e-4)
    assert metrics["valid_json_rate"] == pytest.approx(7 / 8, abs=1e-4)
    parsed_types = [{"IPH"}, set(), {"SAH"}, {"IVH"}, None, {"IPH", "IVH"}, set(), None]
    f1s = []
    for c in CLASSES:
        y = [c in t for t in TRUTH]
        p = [(not yy) if pt is None else c in pt for pt, yy in zip(parsed_types, y)]
        f1s.append(f1_score(y, p, zero_division=0))
        assert metrics[f"f1_{c}"] == pytest.approx(f1s[-1], abs=1e-4), c
    assert metrics["types_macro_f1"] == pytest.approx(sum(f1s) / len(f1s), abs=1e-4)
    assert metrics["types_exact_match"] == pytest.approx(4 / 8, abs=1e-4)
    assert "map_50" not in metrics and len(confusion) == len(predictions) == 8
    assert confusion[4] == {"actual": "hemorrhage", "predicted": "invalid"}


def test_map_from_predicted_boxes():
    boxes = [[{"type": "IPH", "bbox": [10, 10, 40, 30]}], [], [{"type": "SAH", "bbox": [100, 50, 20, 60]}]]
    targets = [{"hemorrhage": bool(b), "types": [x["type"] for x in b], "boxes": b} for b in boxes]
    assert coco_map(targets, targets) == pytest.approx({"map_50_95": 1.0, "map_50": 1.0})
    assert coco_map(targets, [None, None, None]) == {"map_50_95": 0.0, "map_50": 0.0}
    shifted = [
        {**t, "boxes": [{**b, "bbox": [b["bbox"][0] + 0.2 * b["bbox"][2], *b["bbox"][1:]]} for b in t["boxes"]]}
        for t in targets
    ]
    m = coco_map(targets, shifted)
    assert m["map_50"] == pytest.approx(1.0) and 0 < m["map_50_95"] < 1  # IoU 0.67: a hit at .5, a miss from .7 up
    wrong_class = [{**t, "boxes": [{**b, "type": "EDH"} for b in t["boxes"]]} for t in targets]
    assert coco_map(targets, wrong_class)["map_50"] == 0.0
    rows = [{"id": str(i), "target": json.dumps(t)} for i, t in enumerate(targets)]
    metrics, _, _ = score_ct(rows, [json.dumps(t) for t in targets], rows)
    assert metrics["map_50"] == pytest.approx(1.0) and metrics["hemorrhage_accuracy"] == 1.0
