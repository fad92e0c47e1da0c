"""COCO for ct_v4: load and check, remap categories by config, clip boxes, merge sources
with re-numbered ids.

Internal COCO documents (what annotate, stratify and augment write) use the six target
categories with ids 1..6 (``radtune.variants.ct_v4.CLASSES`` order), image and annotation ids from 1,
and image entries carrying only pseudonymous data:
``{"id", "file_name": "<image_id>.png", "width", "height", "patient_id", "origin",
"feedback", "augmented_from"}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from radtune.errors import ConfigError, InputRejected
from radtune.io import read_json
from radtune.records import check_counts
from radtune.variants.ct_v4.constants import CLASSES

IMAGE_FIELDS = ("id", "file_name", "width", "height", "patient_id", "origin", "feedback", "augmented_from")


def canonical(name: str) -> str:
    """Category names compared case- and whitespace-insensitively."""
    return " ".join(str(name).split()).casefold()


def load_coco(path: Path) -> dict:
    """A COCO file with images/annotations/categories lists; InputRejected names the file
    and the field at fault."""
    path = Path(path)
    if not path.is_file():
        raise InputRejected(f"{path}: annotation file not found")
    try:
        doc = read_json(path)
    except ValueError as e:
        raise InputRejected(f"{path.name}: not valid JSON ({e})") from None
    for field in ("images", "annotations", "categories"):
        if not isinstance(doc.get(field), list):
            raise InputRejected(f"{path.name}: '{field}' must be a list")
    for i, im in enumerate(doc["images"]):
        if not {"id", "file_name", "width", "height"} <= set(im):
            raise InputRejected(f"{path.name}: images[{i}] needs id, file_name, width, height")
    for i, a in enumerate(doc["annotations"]):
        if not {"id", "image_id", "category_id", "bbox"} <= set(a) or len(a["bbox"]) != 4:
            raise InputRejected(f"{path.name}: annotations[{i}] needs id, image_id, category_id, bbox [x,y,w,h]")
    return doc


def category_map(
    categories: list[dict],
    class_map: Mapping[str, str],
    drop: Iterable[str],
    source: str,
    classes: tuple[str, ...] = CLASSES,
) -> dict[int, str | None]:
    """Source category id -> target class, or None for a category to drop. Names are
    matched with ``canonical``; a category neither mapped nor dropped is a ConfigError (so a
    new label is never lost silently)."""
    cmap = {canonical(k): str(v) for k, v in class_map.items()}
    dropped = {canonical(d) for d in drop}
    bad = sorted(v for v in cmap.values() if v not in classes)
    if bad:
        raise ConfigError(
            f"annotate.sources.{source}.class_map: unknown target class(es) {bad}; targets: {list(classes)}"
        )
    out: dict[int, str | None] = {}
    for c in categories:
        name = canonical(c["name"])
        if name in cmap:
            out[int(c["id"])] = cmap[name]
        elif name in dropped:
            out[int(c["id"])] = None
        else:
            raise ConfigError(
                f"annotate.sources.{source}: category {c['name']!r} (id {c['id']}) is neither in "
                f"class_map nor in drop; add it to one of them"
            )
    return out


def clip_bbox(bbox: list[float], width: float, height: float, min_size: float = 1.0) -> list[float] | None:
    """[x, y, w, h] intersected with the image, rounded to 0.01 px; None if the result is
    narrower or lower than ``min_size`` (degenerate)."""
    x, y, w, h = (float(v) for v in bbox)
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(width), x + w), min(float(height), y + h)
    x0, y0, x1, y1 = (round(v, 2) for v in (x0, y0, x1, y1))
    if x1 - x0 < min_size or y1 - y0 < min_size:
        return None
    return [x0, y0, round(x1 - x0, 2), round(y1 - y0, 2)]


def transform_bbox(bbox: list[float], scale: float, padding: Mapping[str, int]) -> list[float]:
    """A source-pixel box in the letterboxed output (scale, then shift by the padding)."""
    x, y, w, h = (float(v) for v in bbox)
    return [x * scale + padding["left"], y * scale + padding["top"], w * scale, h * scale]


def categories(classes: tuple[str, ...] = CLASSES) -> list[dict]:
    return [{"id": i + 1, "name": c, "supercategory": "hemorrhage"} for i, c in enumerate(classes)]


def annotation(ann_id: int, image_id: int, category_id: int, bbox: list[float]) -> dict:
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id,
        "bbox": list(bbox),
        "area": round(bbox[2] * bbox[3], 2),
        "iscrowd": 0,
    }


def image_entry(**fields: Any) -> dict:
    """An internal image entry, fields in IMAGE_FIELDS (missing ones null)."""
    return {k: fields.get(k) for k in IMAGE_FIELDS}


def document(
    images: list[dict], annotations: list[dict], classes: tuple[str, ...] = CLASSES, description: str = ""
) -> dict:
    return {
        "info": {"description": description},
        "licenses": [],
        "categories": categories(classes),
        "images": images,
        "annotations": annotations,
    }


def renumber(images: list[dict], anns: list[dict]) -> tuple[list[dict], list[dict]]:
    """Image ids 1..n in the given image order; annotation ids 1..m ordered by (new image
    id, previous annotation id); annotations of unknown images are an error (filter first)."""
    new_id = {im["id"]: i + 1 for i, im in enumerate(images)}
    if len(new_id) != len(images):
        raise ValueError("renumber: duplicate image ids")
    out_images = [{**im, "id": new_id[im["id"]]} for im in images]
    ordered = sorted(anns, key=lambda a: (new_id[a["image_id"]], a["id"]))
    out_anns = [{**a, "id": j + 1, "image_id": new_id[a["image_id"]]} for j, a in enumerate(ordered)]
    return out_images, out_anns


def remap_source(
    doc: dict,
    source: str,
    cmap: Mapping[int, str | None],
    records: Mapping[str, dict],
    images_prefix: str,
    classes: tuple[str, ...] = CLASSES,
) -> tuple[list[dict], list[dict], dict]:
    """One source's images and annotations in target terms, plus its log.

    ``records`` maps normalize's ``source`` ("<images_prefix>/<file_name>") to its record.
    Images whose file is missing or was rejected are dropped (with their annotations);
    annotations of unknown images or dropped categories are dropped; boxes are transformed
    to the normalized image, clipped, and dropped when degenerate. Image ids in the result
    are tuples (source, original id) until ``renumber``; every drop is logged by original
    COCO id and reason (no file names: they may carry identifiers)."""
    cat_id = {c: i + 1 for i, c in enumerate(classes)}
    images: list[dict] = []
    log: dict[str, Any] = {
        "source": source,
        "images_in": len(doc["images"]),
        "annotations_in": len(doc["annotations"]),
        "categories": {str(c["name"]): cmap[int(c["id"])] for c in doc["categories"]},
        "images_dropped": [],
        "annotations_dropped": [],
        "boxes_clipped": 0,
    }
    kept: dict[Any, dict] = {}
    seen_files: set[str] = set()
    for im in sorted(doc["images"], key=lambda im: im["id"]):
        rec = records.get(f"{images_prefix}/{im['file_name']}")
        reason = None
        if im["file_name"] in seen_files:
            reason = "duplicate file_name in the annotation file"
        elif rec is None:
            reason = "image file missing"
        elif rec["status"] != "ok":
            reason = f"rejected by normalize: {rec['reason'].split(': ', 1)[-1]}"
        seen_files.add(im["file_name"])
        if reason:
            log["images_dropped"].append({"coco_id": im["id"], "reason": reason})
            continue
        entry = image_entry(
            id=(source, im["id"]),
            file_name=f"{rec['image_id']}.png",
            width=rec["width"],
            height=rec["height"],
            patient_id=rec["patient_id"],
            origin=source,
        )
        kept[im["id"]] = {"entry": entry, "record": rec}
        images.append(entry)
    dropped_images = {d["coco_id"] for d in log["images_dropped"]}
    anns: list[dict] = []
    for a in sorted(doc["annotations"], key=lambda a: a["id"]):
        target = cmap.get(int(a["category_id"]), "?unknown")
        reason = None
        if target == "?unknown":
            reason = "category_id not in categories"
        elif target is None:
            reason = "noise category dropped"
        elif a["image_id"] in dropped_images:
            reason = "its image was dropped"
        elif a["image_id"] not in kept:
            reason = "image_id not in images"
        if reason is None:
            rec = kept[a["image_id"]]["record"]
            h0, w0 = rec["source_shape"]
            box = clip_bbox(a["bbox"], w0, h0)
            if box is None:
                reason = "degenerate box after clipping to the image"
            else:
                if box != [round(float(v), 2) for v in a["bbox"]]:
                    log["boxes_clipped"] += 1
                box = clip_bbox(transform_bbox(box, rec["scale"], rec["padding"]), rec["width"], rec["height"])
                if box is None:
                    reason = "degenerate box after resizing"
        if reason:
            log["annotations_dropped"].append({"coco_id": a["id"], "reason": reason})
            continue
        anns.append(annotation((source, a["id"]), kept[a["image_id"]]["entry"]["id"], cat_id[target], box))
    log["images_kept"] = len(images)
    log["annotations_kept"] = len(anns)
    check_counts(
        f"annotate {source} images", log["images_in"], kept=log["images_kept"], dropped=len(log["images_dropped"])
    )
    check_counts(
        f"annotate {source} annotations",
        log["annotations_in"],
        kept=log["annotations_kept"],
        dropped=len(log["annotations_dropped"]),
    )
    return images, anns, log


def drop_counts(log: dict) -> dict[str, int]:
    """Dropped annotations by reason."""
    out: dict[str, int] = {}
    for d in log["annotations_dropped"]:
        out[d["reason"]] = out.get(d["reason"], 0) + 1
    return dict(sorted(out.items()))


def merge(
    parts: list[tuple[list[dict], list[dict]]], classes: tuple[str, ...] = CLASSES, description: str = ""
) -> dict:
    """Concatenate sources (in the given order) and renumber ids from 1."""
    images = [im for ims, _ in parts for im in ims]
    anns = [a for _, ans in parts for a in ans]
    # annotation order inside renumber uses the previous id: make them comparable
    order = {a["id"]: i for i, a in enumerate(anns)}
    anns = [{**a, "id": order[a["id"]]} for a in anns]
    images, anns = renumber(images, anns)
    return document(images, anns, classes, description)


def annotations_by_image(doc: dict) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {im["id"]: [] for im in doc["images"]}
    for a in doc["annotations"]:
        out.setdefault(a["image_id"], []).append(a)
    return out


def class_names(doc: dict) -> dict[int, str]:
    return {int(c["id"]): str(c["name"]) for c in doc["categories"]}
