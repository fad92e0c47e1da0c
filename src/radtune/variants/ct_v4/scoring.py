"""Scoring ct_v4 answers: any-hemorrhage and per-class F1, and COCO mAP when boxes are asked for.

Answers are `{"hemorrhage": bool, "types": [...], "boxes": [{"type", "bbox"}]}` (see
radtune.variants.ct_v4.targets). Rules (malformed output always counts as wrong):
  any hemorrhage   an answer that is not valid JSON, or whose "hemorrhage" is not a
                   boolean, is wrong (a miss or a false alarm);
  per class        a class is predicted present iff it is in the answer's "types" list; an
                   answer without a "types" list is wrong for every class;
  exact match      the answer's set of types equals the truth's;
  mAP              (only when the targets carry boxes) pycocotools' bbox evaluation of the
                   predicted boxes, every box with score 1 (greedy answers carry no
                   confidence), against the target boxes in the same coordinates.
Baseline from the train split: `hemorrhage_majority_accuracy` (always the most common
train answer; a tie counts as hemorrhage, as for fractures)."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from radtune.metrics import (
    RadiologyMetrics,
    accuracy,
    answer_bool,
    confusion_rows,
    majority,
    parse_json_predictions,
    prediction_rows,
)
from radtune.metrics import round4 as r4
from radtune.variants.ct_v4.constants import CLASSES


def _types(answer: Mapping[str, Any] | None) -> set[str] | None:
    t = answer.get("types") if answer else None
    return {x for x in t if isinstance(x, str)} if isinstance(t, list) else None


def _boxes(answer: Mapping[str, Any] | None) -> list[tuple[str, list[float]]]:
    out = []
    for b in (answer or {}).get("boxes") or []:
        if (
            isinstance(b, Mapping)
            and b.get("type") in CLASSES
            and isinstance(b.get("bbox"), list)
            and len(b["bbox"]) == 4
            and all(isinstance(v, (int, float)) for v in b["bbox"])
        ):
            out.append((b["type"], [float(v) for v in b["bbox"]]))
    return out


def coco_map(targets: Sequence[Mapping[str, Any]], answers: Sequence[Mapping[str, Any] | None]) -> dict[str, float]:
    """{"map_50_95", "map_50"} of the predicted boxes (pycocotools COCOeval, iouType bbox)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    cat = {c: i + 1 for i, c in enumerate(CLASSES)}
    gt = {
        "images": [{"id": i + 1, "width": 1, "height": 1} for i in range(len(targets))],
        "categories": [{"id": v, "name": k} for k, v in cat.items()],
        "annotations": [],
    }
    for i, t in enumerate(targets):
        for name, (x, y, w, h) in _boxes(t):
            gt["annotations"].append(
                {
                    "id": len(gt["annotations"]) + 1,
                    "image_id": i + 1,
                    "category_id": cat[name],
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    dets = [
        {"image_id": i + 1, "category_id": cat[name], "bbox": box, "score": 1.0}
        for i, a in enumerate(answers)
        for name, box in _boxes(a)
    ]
    if not gt["annotations"] or not dets:
        return {"map_50_95": 0.0, "map_50": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(dets), "bbox")
        ev.params.areaRng = [[0, 1e12]] * 4  # boxes in any unit: no small/medium/large split
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"map_50_95": max(0.0, float(ev.stats[0])), "map_50": max(0.0, float(ev.stats[1]))}


def score_ct(
    test_rows: Sequence[Mapping[str, Any]], outputs: Sequence[str], train_rows: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], list[dict], list[dict]]:
    m = RadiologyMetrics()
    parsed = parse_json_predictions(outputs)
    targets = [json.loads(r["target"]) for r in test_rows]
    guess = majority([bool(json.loads(r["target"])["hemorrhage"]) for r in train_rows])
    gt_any = [bool(t["hemorrhage"]) for t in targets]
    pred_any = [answer_bool(p, "hemorrhage") for p in parsed]
    anyh = m.hemorrhage_f1(pred_any, gt_any)
    pred_types = [_types(p) for p in parsed]
    metrics: dict[str, Any] = {
        "n": len(test_rows),
        "valid_json_rate": r4(sum(p is not None for p in parsed) / len(parsed)) if parsed else None,
        "hemorrhage_f1": r4(anyh["f1"]),
        "hemorrhage_precision": r4(anyh["precision"]),
        "hemorrhage_recall": r4(anyh["recall"]),
        **accuracy("hemorrhage_accuracy", [p is not None and p == g for p, g in zip(pred_any, gt_any)]),
        **accuracy("hemorrhage_majority_accuracy", [guess == g for g in gt_any]),
    }
    f1s = []
    for c in CLASSES:
        gt_c = [c in t["types"] for t in targets]
        pred_c = [None if pt is None else c in pt for pt in pred_types]
        f1s.append(m.hemorrhage_f1(pred_c, gt_c)["f1"])
        metrics[f"f1_{c}"] = r4(f1s[-1])
    metrics["types_macro_f1"] = r4(sum(f1s) / len(f1s))
    metrics["types_exact_match"] = r4(
        sum(pt == set(t["types"]) for pt, t in zip(pred_types, targets)) / len(targets) if targets else None
    )
    if any("boxes" in t for t in targets):
        metrics |= {k: r4(v) for k, v in coco_map(targets, parsed).items()}
    return (
        metrics,
        confusion_rows(gt_any, pred_any, "hemorrhage", "no_hemorrhage"),
        prediction_rows(test_rows, outputs, parsed),
    )


def score_bars(m: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Any-hemorrhage and the types next to their baselines (radtune.figures.scores_png)."""
    from radtune.figures import bar

    return {
        "any-hemorrhage accuracy": {
            "model": bar(m, "hemorrhage_accuracy"),
            "no image": bar(m, "hemorrhage_accuracy_no_image"),
            "train majority": bar(m, "hemorrhage_majority_accuracy"),
        },
        "types macro F1": {"model": bar(m, "types_macro_f1"), "no image": bar(m, "types_macro_f1_no_image")},
        "F1 per type": {c: m.get(f"f1_{c}") for c in CLASSES},
    }


def montage_items(
    final_dir: Path,
    split: str,
    rows: Sequence[Mapping[str, Any]],
    predictions: Sequence[Mapping[str, Any]],
    box_scale: int | None,
) -> list[dict]:
    """One tile per scored row, the truth boxes of the COCO file (green) and any boxes the
    answer gives (red, back in pixels); right when hemorrhage and the set of types are right."""
    from radtune.variants.ct_v4.coco import annotations_by_image
    from radtune.variants.ct_v4.validate import load_split

    doc = load_split(final_dir, split)
    by_image = annotations_by_image(doc)
    images = {Path(im["file_name"]).stem: im for im in doc["images"]}
    rows_by_id = {r["id"]: r for r in rows}
    items = []
    for pred in predictions:
        im, truth, answer = images[pred["id"]], json.loads(pred["target"]), pred["parsed"] or {}
        sx, sy = (im["width"] / box_scale, im["height"] / box_scale) if box_scale else (1.0, 1.0)
        said = [[b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy] for _, b in _boxes(answer)]
        items.append(
            {
                "image": Path(final_dir).parent / rows_by_id[pred["id"]]["image_path"],
                "truth": pred["target"],
                "answer": pred["output"],
                "correct": answer.get("hemorrhage") is truth["hemorrhage"] and _types(answer) == set(truth["types"]),
                "boxes_truth": [a["bbox"] for a in by_image[im["id"]]],
                "boxes_answer": said,
            }
        )
    return items


def source_names(final_dir: Path) -> dict[str, str]:
    """Row id -> the input set the image came from (`origin`: v3, roboflow or pool, as
    conf/dataset/ct_v4.yaml names them). ct_v4 publishes no input file names: DICOM file
    names can carry identifiers (UIDs), so none reaches the predictions either."""
    from radtune.variants.ct_v4.constants import SPLITS
    from radtune.variants.ct_v4.validate import load_split

    out = {}
    for split in SPLITS:
        for im in load_split(final_dir, split)["images"]:
            copy = " (augmented copy)" if im.get("augmented_from") else ""
            out[Path(im["file_name"]).stem] = f"{im.get('origin') or 'unknown'}{copy}"
    return out
