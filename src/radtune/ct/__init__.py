"""The ct_v4 head-CT hemorrhage variant (seed 002): S3 fetch, COCO remap/merge,
patient-level balanced splits, bbox-aware augmentation, the 4-class symlinked subset,
validation and analysis.

Constants shared by every module of the variant live here, once.
"""

from __future__ import annotations

#: the six target classes, in category-id order (COCO category ids 1..6)
CLASSES: tuple[str, ...] = ("EDH", "HC", "IPH", "IVH", "SAH", "SDH")
#: split keys (as in params: stratify.ratios) and their folder names (the seed's layout)
SPLITS: tuple[str, ...] = ("train", "val", "test")
SPLIT_DIRS: dict[str, str] = {"train": "train", "val": "valid", "test": "test"}
#: the seed's printed split names
SPLIT_TITLES: dict[str, str] = {"train": "Train", "val": "Valid", "test": "Test"}
#: the annotation file in each split folder (Roboflow / seed layout)
ANNOTATIONS_FILE = "_annotations.coco.json"
#: the origin tag of the no-hemorrhage pool fetched from S3
POOL = "pool"
