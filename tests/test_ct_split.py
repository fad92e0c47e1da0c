"""Patient-level split and no-hemorrhage balancing for ct_v4."""

from __future__ import annotations

from collections import Counter

from radtune.variants.ct_v4 import split
from radtune.variants.ct_v4.coco import document


def test_largest_remainder_and_shortfall() -> None:
    assert split.largest_remainder(10, {"a": 0.8, "b": 0.15, "c": 0.05}) == {"a": 8, "b": 2, "c": 0}
    assert split.largest_remainder(10, {"a": 0.8, "b": 0.15, "c": 0.05}, minimum=1) == {"a": 7, "b": 2, "c": 1}
    assert sum(split.largest_remainder(3875, {"a": 3126, "b": 543, "c": 206}).values()) == 3875
    # the seed's numbers: 8620 images, 2747 no-hem -> 3126 to add for 50%
    assert split.shortfall(8620, 2747, 0.5) == 3126
    assert split.shortfall(100, 60, 0.5) == 0


def cohort(n_patients: int = 60) -> dict:
    classes = ["EDH", "HC", "IPH", "IVH", "SAH", "SDH"]
    images, anns = [], []
    for p in range(n_patients):
        for k in range(3):
            iid = len(images) + 1
            images.append(
                {
                    "id": iid,
                    "file_name": f"I{iid:04d}.png",
                    "width": 64,
                    "height": 64,
                    "patient_id": f"P{p:03d}",
                    "origin": "v3",
                    "feedback": None,
                    "augmented_from": None,
                }
            )
            if k < 2:
                cls = classes[p % 6] if k == 0 else "IPH"
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": iid,
                        "category_id": classes.index(cls) + 1,
                        "bbox": [1, 1, 5, 5],
                        "area": 25,
                        "iscrowd": 0,
                    }
                )
    return document(images, anns)


def pool(n: int, fp: int, patients: list[str] | None = None) -> dict:
    images = [
        {
            "id": i + 1,
            "file_name": f"Q{i:04d}.png",
            "width": 64,
            "height": 64,
            "patient_id": (patients[i] if patients and i < len(patients) else f"N{i:04d}"),
            "origin": "pool",
            "feedback": "FP" if i % 7 == 0 and i // 7 < fp else "TN",
            "augmented_from": None,
        }
        for i in range(n)
    ]
    return document(images, [])


def test_patient_level_every_class_in_every_split() -> None:
    merged = cohort()
    ids, added, report = split.balance(merged, pool(200, 10), {"train": 0.8, "val": 0.15, "test": 0.05}, 7, 0.5)
    split_of = {i: s for s, xs in ids.items() for i in xs}
    patient_splits: dict[str, set] = {}
    for im in merged["images"]:
        patient_splits.setdefault(im["patient_id"], set()).add(split_of[im["id"]])
    assert all(len(v) == 1 for v in patient_splits.values())
    classes_of = {s: set() for s in ids}
    for a in merged["annotations"]:
        classes_of[split_of[a["image_id"]]].add(a["category_id"])
    assert all(v == {1, 2, 3, 4, 5, 6} for v in classes_of.values())
    assert report["patients"]["train"] > report["patients"]["val"] > report["patients"]["test"] > 0
    # enough pool: every split exactly balanced
    assert all(
        report["after"][s]["no_hem"] * 2 in (report["after"][s]["images"], report["after"][s]["images"] + 1)
        for s in ids
    )
    assert report == split.balance(merged, pool(200, 10), {"train": 0.8, "val": 0.15, "test": 0.05}, 7, 0.5)[2]


def test_short_pool_is_proportional_and_fp_first() -> None:
    merged = cohort()
    p = pool(40, 6)
    _, added, report = split.balance(merged, p, {"train": 0.8, "val": 0.15, "test": 0.05}, 7, 0.5)
    assert sum(report["distributed"].values()) == 40 < report["total_shortfall"]
    assert report["quota"] == split.largest_remainder(40, report["shortfall"])
    used_fp = sum(report["distributed_fp"].values())
    assert used_fp == report["pool"]["fp"] == 6


def test_pool_patient_already_in_a_split_joins_it() -> None:
    merged = cohort()
    known = merged["images"][0]["patient_id"]
    ids, added, _ = split.balance(
        merged, pool(50, 2, patients=[known]), {"train": 0.8, "val": 0.15, "test": 0.05}, 7, 0.5
    )
    where = {s for s, xs in ids.items() if merged["images"][0]["id"] in xs}
    got = {s for s, ims in added.items() if any(im["patient_id"] == known for im in ims)}
    assert got <= where
    text = split.format_balance(
        split.balance(merged, pool(50, 2), {"train": 0.8, "val": 0.15, "test": 0.05}, 7, 0.5)[2]
    )
    assert "Current balance per split:" in text and "FP (high priority): " in text and "Overall: " in text
    assert Counter(line.strip().split(":")[0] for line in text.splitlines() if "no-hem (" in line)["Train"] == 2
