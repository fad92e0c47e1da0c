"""Per-image target answers for the VLM (the later export-jsonl stage turns them into chat
rows): ``{"hemorrhage": true, "types": ["IPH", "SAH"], "boxes": [{"type": "IPH",
"bbox": [x, y, w, h]}, ...]}``.

``types`` are sorted in class order and unique; ``boxes`` (only when asked for) are sorted
by (class order, x, y) with integer pixel coordinates, or with ``box_scale=1000`` as
integers in 0..1000 of the image width/height (the scale Gemma-family models use).
Keys are always in this order, so ``json.dumps(target, separators=(",", ":"))`` is stable.
"""

from __future__ import annotations

from pathlib import Path

from radtune.variants.ct_v4.coco import annotations_by_image, class_names
from radtune.variants.ct_v4.constants import SPLITS
from radtune.variants.ct_v4.validate import load_split


def box_out(bbox: list[float], width: int, height: int, box_scale: int | None) -> list[int]:
    x, y, w, h = bbox
    if box_scale:
        return [
            round(x / width * box_scale),
            round(y / height * box_scale),
            round(w / width * box_scale),
            round(h / height * box_scale),
        ]
    return [round(x), round(y), round(w), round(h)]


def image_target(
    image: dict,
    anns: list[dict],
    names: dict[int, str],
    classes: list[str],
    *,
    with_boxes: bool = False,
    box_scale: int | None = None,
) -> dict:
    """The answer for one image."""
    order = {c: i for i, c in enumerate(classes)}
    types = sorted({names[a["category_id"]] for a in anns}, key=order.__getitem__)
    target: dict = {"hemorrhage": bool(types), "types": types}
    if with_boxes:
        boxes = [
            {"type": names[a["category_id"]], "bbox": box_out(a["bbox"], image["width"], image["height"], box_scale)}
            for a in anns
        ]
        target["boxes"] = sorted(boxes, key=lambda b: (order[b["type"]], b["bbox"][0], b["bbox"][1], b["bbox"][2:]))
    return target


def document_targets(doc: dict, *, with_boxes: bool = False, box_scale: int | None = None) -> list[dict]:
    """One row per image, in image-id order: {file_name, patient_id, target}."""
    names = class_names(doc)
    classes = [c["name"] for c in sorted(doc["categories"], key=lambda c: c["id"])]
    by_image = annotations_by_image(doc)
    return [
        {
            "file_name": im["file_name"],
            "patient_id": im["patient_id"],
            "target": image_target(im, by_image[im["id"]], names, classes, with_boxes=with_boxes, box_scale=box_scale),
        }
        for im in sorted(doc["images"], key=lambda im: im["id"])
    ]


def dataset_targets(root: Path, *, with_boxes: bool = False, box_scale: int | None = None) -> dict[str, list[dict]]:
    """split -> rows, for a final dataset folder (e.g. data/ct-v4/6class_coco)."""
    return {s: document_targets(load_split(root, s), with_boxes=with_boxes, box_scale=box_scale) for s in SPLITS}
