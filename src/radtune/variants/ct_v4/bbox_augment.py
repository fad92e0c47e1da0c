"""Bounding-box-aware augmentation of the training split (albumentations 2.0.8, MIT).

Each training image is kept and gets ``multiplier - 1`` augmented copies
(``<stem>_aug<i>.png``, ``augmented_from`` = the original's file name); val/test are
copied untouched. Transforms are medically sensible for axial head CT: small rotation,
scale and shift, brightness/contrast, left-right flip; never a vertical flip (it would put
the face at the back of the head). Boxes follow the image (COCO format); a box less than
``min_visibility`` visible is dropped. A copy that would lose a box is redrawn with the
next sub-seed (up to ``max_tries``); the best try is kept and any lost box is logged.
Every copy is seeded from (seed, file name, copy index): the result does not depend on
order or on the other images.
"""

from __future__ import annotations

from dataclasses import dataclass

import albumentations as A
import cv2
import numpy as np
from omegaconf import DictConfig

from radtune.seeds import sub_seed
from radtune.variants.ct_v4.coco import clip_bbox


def build_transform(cfg: DictConfig) -> A.Compose:
    """The train-time transform; ``cfg`` is the ``augment`` section."""
    return A.Compose(
        [
            A.Affine(
                rotate=(-cfg.rotate_limit, cfg.rotate_limit),
                scale=(1 - cfg.scale_limit, 1 + cfg.scale_limit),
                translate_percent=(-cfg.shift_limit, cfg.shift_limit),
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                p=1.0,
            ),
            A.RandomBrightnessContrast(
                brightness_limit=cfg.brightness_contrast_limit, contrast_limit=cfg.brightness_contrast_limit, p=0.8
            ),
            A.HorizontalFlip(p=cfg.horizontal_flip),
        ],
        bbox_params=A.BboxParams(
            format="coco", label_fields=["category_ids"], min_visibility=cfg.min_visibility, clip=True
        ),
    )


@dataclass(frozen=True)
class Augmented:
    image: np.ndarray
    boxes: list[list[float]]
    category_ids: list[int]
    lost: int
    attempts: int


def augment_copy(
    image: np.ndarray,
    boxes: list[list[float]],
    category_ids: list[int],
    transform: A.Compose,
    seed: int,
    name: str,
    i: int,
    max_tries: int = 5,
) -> Augmented:
    """One augmented copy with its boxes (clipped to the image, degenerate ones dropped)."""
    h, w = image.shape[:2]
    best: Augmented | None = None
    for attempt in range(max(1, max_tries)):
        transform.set_random_seed(sub_seed(seed, name, i, attempt, bits=32))
        out = transform(
            image=image, bboxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4), category_ids=list(category_ids)
        )
        kept_boxes, kept_ids = [], []
        for b, c in zip(out["bboxes"], out["category_ids"]):
            cb = clip_bbox([float(v) for v in b], w, h)
            if cb is not None:
                kept_boxes.append(cb)
                kept_ids.append(int(c))
        cand = Augmented(out["image"], kept_boxes, kept_ids, len(boxes) - len(kept_boxes), attempt + 1)
        if best is None or cand.lost < best.lost:
            best = cand
        if cand.lost == 0:
            break
    if best is None:  # unreachable: at least one attempt always runs
        raise RuntimeError("augment_copy: no attempt ran")
    return best


def aug_name(file_name: str, i: int) -> str:
    stem, dot, ext = file_name.rpartition(".")
    return f"{stem}_aug{i}.{ext}" if dot else f"{file_name}_aug{i}"
