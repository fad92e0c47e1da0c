"""COCO remap / clip / merge / renumber for ct_v4, checked against pycocotools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pycocotools.coco import COCO

from radtune.errors import ConfigError
from radtune.variants.ct_v4 import coco

RF_CATS = [
    {"id": 0, "name": "hemorrhage-types"},
    {"id": 1, "name": "epidural"},
    {"id": 2, "name": "Intraparenchymal "},
    {"id": 3, "name": "SUBDURAL"},
    {"id": 4, "name": "calcification"},
]
RF_MAP = {"Epidural": "EDH", "intraparenchymal": "IPH", "subdural": "SDH"}


def test_category_map_is_case_and_space_insensitive() -> None:
    m = coco.category_map(RF_CATS, RF_MAP, ["Hemorrhage-Types", " calcification"], "roboflow")
    assert m == {0: None, 1: "EDH", 2: "IPH", 3: "SDH", 4: None}


def test_unknown_category_or_target_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="calcification"):
        coco.category_map(RF_CATS, RF_MAP, ["hemorrhage-types"], "roboflow")
    with pytest.raises(ConfigError, match="XYZ"):
        coco.category_map(RF_CATS, {**RF_MAP, "calcification": "XYZ"}, ["hemorrhage-types"], "roboflow")


@pytest.mark.parametrize(
    "bbox,expected",
    [
        ([10, 10, 20, 5], [10.0, 10.0, 20.0, 5.0]),
        ([-4, 10, 20, 5], [0.0, 10.0, 16.0, 5.0]),
        ([250, 250, 20, 20], [250.0, 250.0, 6.0, 6.0]),
        ([260, 10, 20, 5], None),  # entirely outside
        ([255.5, 10, 20, 5], None),  # 0.5 px wide after clipping
        ([10, 10, 0.4, 5], None),
    ],
)
def test_clip_bbox(bbox: list[float], expected: list[float] | None) -> None:
    assert coco.clip_bbox(bbox, 256, 256) == expected


def records_for(names: list[str], prefix: str) -> dict[str, dict]:
    return {
        f"{prefix}/{n}": {
            "status": "ok",
            "image_id": f"I{prefix}{i}",
            "patient_id": f"P{i % 2}",
            "width": 256,
            "height": 256,
            "source_shape": [256, 256],
            "scale": 1.0,
            "padding": {"top": 0, "bottom": 0, "left": 0, "right": 0},
        }
        for i, n in enumerate(names)
    }


def source_doc() -> dict:
    return {
        "categories": RF_CATS,
        "images": [
            {"id": 0, "file_name": "a.dcm", "width": 256, "height": 256},
            {"id": 1, "file_name": "b.dcm", "width": 256, "height": 256},
            {"id": 2, "file_name": "gone.dcm", "width": 256, "height": 256},
        ],
        "annotations": [
            {"id": 0, "image_id": 0, "category_id": 1, "bbox": [-5, 5, 30, 10]},
            {"id": 1, "image_id": 0, "category_id": 4, "bbox": [5, 5, 3, 3]},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [300, 5, 10, 10]},
            {"id": 3, "image_id": 1, "category_id": 3, "bbox": [40, 40, 10, 10]},
            {"id": 4, "image_id": 2, "category_id": 3, "bbox": [40, 40, 10, 10]},
            {"id": 5, "image_id": 9, "category_id": 3, "bbox": [40, 40, 10, 10]},
        ],
    }


def test_remap_source_drops_and_logs_everything() -> None:
    cmap = coco.category_map(RF_CATS, RF_MAP, ["hemorrhage-types", "calcification"], "rf")
    images, anns, log = coco.remap_source(source_doc(), "rf", cmap, records_for(["a.dcm", "b.dcm"], "rf"), "rf")
    assert [im["file_name"] for im in images] == ["Irf0.png", "Irf1.png"]
    assert log["images_dropped"] == [{"coco_id": 2, "reason": "image file missing"}]
    assert coco.drop_counts(log) == {
        "degenerate box after clipping to the image": 1,
        "image_id not in images": 1,
        "its image was dropped": 1,
        "noise category dropped": 1,
    }
    assert log["boxes_clipped"] == 1
    assert [a["bbox"] for a in anns] == [[0.0, 5.0, 25.0, 10.0], [40.0, 40.0, 10.0, 10.0]]
    assert log["annotations_kept"] + len(log["annotations_dropped"]) == log["annotations_in"] == 6


def test_merge_renumbers_from_one_and_loads_in_pycocotools(tmp_path: Path) -> None:
    cmap = coco.category_map(RF_CATS, RF_MAP, ["hemorrhage-types", "calcification"], "rf")
    a = coco.remap_source(source_doc(), "rf", cmap, records_for(["a.dcm", "b.dcm"], "rf"), "rf")
    v3 = {
        "categories": [{"id": 0, "name": "SDH"}],
        "images": [{"id": 0, "file_name": "a.dcm", "width": 256, "height": 256}],  # ids collide with rf
        "annotations": [{"id": 0, "image_id": 0, "category_id": 0, "bbox": [1, 2, 3, 4]}],
    }
    b = coco.remap_source(
        v3, "v3", coco.category_map(v3["categories"], {"sdh": "SDH"}, [], "v3"), records_for(["a.dcm"], "v3"), "v3"
    )
    doc = coco.merge([b[:2], a[:2]])
    assert [im["id"] for im in doc["images"]] == [1, 2, 3]
    assert [x["id"] for x in doc["annotations"]] == [1, 2, 3]
    path = tmp_path / "merged.json"
    path.write_text(json.dumps(doc))
    c = COCO(str(path))
    assert sorted(c.getImgIds()) == [1, 2, 3]
    assert [c.cats[i]["name"] for i in sorted(c.cats)] == ["EDH", "HC", "IPH", "IVH", "SAH", "SDH"]
    sdh = c.getCatIds(catNms=["SDH"])
    assert len(c.getAnnIds(catIds=sdh)) == 2


def test_transform_bbox_follows_the_letterbox() -> None:
    assert coco.transform_bbox([10, 10, 20, 20], 2.0, {"top": 0, "bottom": 0, "left": 5, "right": 5}) == [
        25.0,
        20.0,
        40.0,
        40.0,
    ]
