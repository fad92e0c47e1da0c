"""The 4-class dataset (EDH and HC removed), made of relative symlinks to the 6-class images.

Decision on images left without annotations once EDH/HC boxes are removed
(``subset.empty_images``): ``keep`` (default, as the seed: "same image counts, filtered
annotations"): for a 4-class detector such an image is a correct negative, since none of
IPH/IVH/SAH/SDH is present in it. Note that it is *not* a "no hemorrhage" image: analysis
reports 4-class images "without any of the 4 classes", not "without hemorrhage".
``drop`` removes them instead (use it when the 4-class set must not show bleeding on
negative images).
"""

from __future__ import annotations

import os
from pathlib import Path

from radtune.variants.ct_v4.coco import annotations_by_image, class_names, document, renumber

EMPTY_CHOICES = ("keep", "drop")


def filter_classes(doc: dict, drop_classes: list[str], empty_images: str = "keep") -> tuple[dict, dict]:
    """The document without ``drop_classes`` (categories renumbered 1..k in the remaining
    order, ids renumbered from 1), plus counts of what was removed."""
    if empty_images not in EMPTY_CHOICES:
        raise ValueError(f"subset.empty_images must be one of {EMPTY_CHOICES}, got {empty_images!r}")
    names = class_names(doc)
    keep_classes = tuple(
        c["name"] for c in sorted(doc["categories"], key=lambda c: c["id"]) if c["name"] not in drop_classes
    )
    new_cat = {cid: keep_classes.index(n) + 1 for cid, n in names.items() if n in keep_classes}
    by_image = annotations_by_image(doc)
    images, anns = [], []
    dropped_anns = sum(1 for a in doc["annotations"] if a["category_id"] not in new_cat)
    emptied = 0
    for im in doc["images"]:
        kept = [
            {**a, "category_id": new_cat[a["category_id"]]} for a in by_image[im["id"]] if a["category_id"] in new_cat
        ]
        if by_image[im["id"]] and not kept:
            emptied += 1
            if empty_images == "drop":
                continue
        images.append(im)
        anns.extend(kept)
    images, anns = renumber(images, anns)
    stats = {
        "annotations_dropped": dropped_anns,
        "images_emptied": emptied,
        "images_dropped": emptied if empty_images == "drop" else 0,
    }
    return document(images, anns, keep_classes, doc.get("info", {}).get("description", "")), stats


def link_relative(target: Path, link: Path) -> None:
    """``link`` -> ``target`` as a relative symlink (replacing an existing link/file)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(target, link.parent)
    tmp = link.with_name(f".{link.name}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(rel, tmp)
    os.replace(tmp, link)
