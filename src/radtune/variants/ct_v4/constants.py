"""Constants shared by every module of the ct_v4 variant, once."""

from __future__ import annotations

from radtune.records import SPLITS

#: the six target classes, in category-id order (COCO category ids 1..6)
CLASSES: tuple[str, ...] = ("EDH", "HC", "IPH", "IVH", "SAH", "SDH")
#: the folder names (the seed's layout) of the split keys (`SPLITS`, as in params: stratify.ratios)
SPLIT_DIRS: dict[str, str] = {"train": "train", "val": "valid", "test": "test"}
#: the seed's printed split names
SPLIT_TITLES: dict[str, str] = {"train": "Train", "val": "Valid", "test": "Test"}
#: the annotation file in each split folder (Roboflow / seed layout)
ANNOTATIONS_FILE = "_annotations.coco.json"
#: the origin tag of the no-hemorrhage pool fetched from S3
POOL = "pool"

__all__ = ["CLASSES", "SPLITS", "SPLIT_DIRS", "SPLIT_TITLES", "ANNOTATIONS_FILE", "POOL"]

#: `dataset.normalize.mode`: one window (gray) or brain/subdural/bone as R, G, B (normalize, params)
MODES = ("gray", "rgb3")
