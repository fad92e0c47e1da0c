"""The published layout of the pediatric variants' augment stage, with seeded train-only
augmentation, and the processing log that names every input.

Every kept image is copied byte for byte to `processed/<folder>/<image_id>.jpg` (folder:
the split, or e.g. <task>/<split>); with `multiplier` k > 1 each train image also gets k-1
augmented copies (`<image_id>_aug<i>.jpg`, `augmented_from` set). Each copy's randomness is
seeded from (seed, image_id, i), so the result does not depend on order or on other
images. `source_names` maps published images back to the input files the user knows, from
the processing log (leakage-check lines and eval's predictions)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
from omegaconf import DictConfig

from radtune.imaging import encode_image
from radtune.io import write_bytes_atomic
from radtune.records import ANNOTATION_FIELDS, Record, is_ok
from radtune.seeds import sub_seed
from radtune.shards import Shards


def build_transform(cfg: DictConfig) -> A.Compose:
    """Medically sensible transforms for extremity radiographs: small rotation and scale,
    brightness/contrast, optional horizontal flip (left/right wrist); never vertical flips."""
    return A.Compose(
        [
            A.Affine(
                rotate=(-cfg.rotate_limit, cfg.rotate_limit),
                scale=(1 - cfg.scale_limit, 1 + cfg.scale_limit),
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                p=1.0,
            ),
            A.RandomBrightnessContrast(
                brightness_limit=cfg.brightness_contrast_limit, contrast_limit=cfg.brightness_contrast_limit, p=0.8
            ),
            A.HorizontalFlip(p=cfg.horizontal_flip),
        ]
    )


def augment_image(image: np.ndarray, transform: A.Compose, seed: int) -> np.ndarray:
    transform.set_random_seed(seed)
    return transform(image=image)["image"]


def lay_out(
    records: list[Record],
    normalized: Shards,
    processed_dir: Path,
    data_dir: Path,
    cfg: DictConfig,
    seed: int,
    jpeg_quality: int,
    folder: Callable[[Record], str] = lambda r: r["split"],
) -> list[Record]:
    """Write <processed_dir>/<folder(record)>/ (default: the record's split) and return the
    records of every image written (ok records get image_path, relative to data_dir;
    augmented copies are new records). Grey images stay grey, colour ones colour."""
    transform = build_transform(cfg)
    prefix = processed_dir.relative_to(data_dir).as_posix()

    def image_path(r: Record, image_id: str) -> str:
        return f"{prefix}/{folder(r)}/{image_id}.jpg"

    out: list[Record] = []
    for r in sorted((r for r in records if is_ok(r)), key=lambda r: r["image_id"]):
        name = f"{r['image_id']}.jpg"
        write_bytes_atomic(data_dir / image_path(r, r["image_id"]), normalized.read(name))
        out.append({**r, "image_path": image_path(r, r["image_id"]), "augmented_from": None})
        if r["split"] != "train" or cfg.multiplier == 1:
            continue
        image = normalized.image(name)
        for i in range(1, cfg.multiplier):
            aug_id = f"{r['image_id']}_aug{i}"
            aug = augment_image(image, transform, sub_seed(seed, r["image_id"], i, bits=32))
            write_bytes_atomic(data_dir / image_path(r, aug_id), encode_image(aug, "jpg", jpeg_quality))
            out.append({**r, "image_id": aug_id, "image_path": image_path(r, aug_id), "augmented_from": r["image_id"]})
    return out


def annotations(images: list[Record], split: str) -> list[dict]:
    """The published records of one split, sorted by image_id."""
    return [
        {k: r.get(k) for k in ANNOTATION_FIELDS}
        for r in sorted(images, key=lambda r: r["image_id"])
        if r["split"] == split
    ]


def processing_log(records: list[Record]) -> dict:
    """Every input: processed (with its split and image_id) or rejected (stage + reason)."""
    entries = [
        {
            "source": r["source"],
            "source_sha256": r["source_sha256"],
            "status": "processed" if is_ok(r) else "rejected",
            "image_id": r.get("image_id"),
            "split": r.get("split") if is_ok(r) else None,
            "stage": None if is_ok(r) else r["stage"],
            "reason": None if is_ok(r) else r["reason"],
        }
        for r in sorted(records, key=lambda r: r["source"])
    ]
    processed = sum(e["status"] == "processed" for e in entries)
    rejected_by_stage: dict[str, int] = {}
    for e in entries:
        if e["stage"]:
            rejected_by_stage[e["stage"]] = rejected_by_stage.get(e["stage"], 0) + 1
    return {
        "inputs": len(entries),
        "processed": processed,
        "rejected": len(entries) - processed,
        "rejected_by_stage": dict(sorted(rejected_by_stage.items())),
        "files": entries,
    }


def source_names(published: list[dict], log: dict) -> dict[str, str]:
    """image_id -> the input file it came from (relative to the raw folder), from the
    processing log; augmented copies name their original's file."""
    source = {e["image_id"]: e["source"] for e in log["files"] if e["image_id"]}
    out = {}
    for r in published:
        original = r.get("augmented_from") or r["image_id"]
        if original in source:
            out[r["image_id"]] = source[original] + (" (augmented copy)" if r.get("augmented_from") else "")
    return out
