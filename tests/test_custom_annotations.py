"""pedirad_custom annotation files: every supported layout, each planted bad record
rejected with a line naming its file and field, clean records normalised, counts that add
up, and a deterministic order."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from radtune.errors import InputRejected
from radtune.variants.pedirad_custom.annotations import (
    TASKS,
    check_counts,
    find_annotation_files,
    load_annotations,
    read_annotations,
    task_images,
    unreferenced_images,
    validate_record,
)

IMAGES = {
    "bone_age": [
        "train/h1.dcm",
        "train/h2.dcm",
        "train/h3.dcm",
        "val/h4.dcm",
        "val/h5.dcm",
        "test/h9.dcm",
        "test/h1.dcm",
    ],
    "rop_screening": ["zone_i_stage2/e1.png", "zone_ii_stage1/e2.png", "normal_pupil/e3.png", "zone_x/e3b.png"],
    "fractures": ["distal_radius/f1.png", "buckle/f2.jpg", "normal/f3.png", "normal/f4.png"],
}

GOOD = {
    "bone_age": {"image_path": "train/h1.dcm", "bone_age_months": 120, "age_months": 118.5, "sex": "female"},
    "rop_screening": {"image_path": "zone_i_stage2/e1.png", "zone": "i", "stage": 2, "plus_disease": "yes"},
    "fractures": {
        "image_path": "distal_radius/f1.png",
        "fracture": True,
        "fracture_type": "Buckle",
        "location": "distal_radius",
    },
}


def make_raw(root: Path) -> Path:
    raw = root / "raw"
    for task, rels in IMAGES.items():
        for rel in rels:
            p = raw / task / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"x")
    return raw


def put(raw: Path, rel: str, records) -> Path:
    p = raw / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(records if isinstance(records, str) else json.dumps(records), encoding="utf-8")
    return p


LAYOUTS = [
    ("{task}/train_annotations.json", "train"),
    ("{task}/annotations.json", None),
    ("annotations/{task}/train_annotations.json", "train"),
    ("annotations/{task}_train_annotations.json", "train"),
    ("annotations/{task}_annotations.json", None),
]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize(("pattern", "split"), LAYOUTS)
def test_every_layout_is_found_and_read(tmp_path, task, pattern, split):
    raw = make_raw(tmp_path)
    rel = pattern.format(task=task)
    put(raw, rel, [GOOD[task]])
    files = find_annotation_files(raw)
    assert [(f.task, f.split, f.label(raw)) for f in files] == [(task, split, rel)]
    records, rejected = read_annotations(raw)
    assert rejected == []
    assert len(records) == 1
    r = records[0]
    assert (r["task"], r["split"], r["source"]) == (task, split, f"{task}/{GOOD[task]['image_path']}")
    assert r["annotation"] == f"{rel}[0]"


def test_same_task_and_split_twice_is_refused_naming_both(tmp_path):
    raw = make_raw(tmp_path)
    put(raw, "bone_age/train_annotations.json", [])
    put(raw, "annotations/bone_age_train_annotations.json", [])
    with pytest.raises(InputRejected) as e:
        find_annotation_files(raw)
    msg = str(e.value)
    assert "bone_age/train_annotations.json" in msg and "annotations/bone_age_train_annotations.json" in msg
    assert "\n" not in msg


def test_order_is_deterministic_task_then_split(tmp_path):
    raw = make_raw(tmp_path)
    rels = [
        "fractures/annotations.json",
        "annotations/rop_screening_val_annotations.json",
        "bone_age/test_annotations.json",
        "annotations/bone_age/val_annotations.json",
        "bone_age/train_annotations.json",
        "annotations/rop_screening/train_annotations.json",
        "bone_age/annotations.json",
        "annotations/fractures_holdout_annotations.json",
    ]
    random.Random(3).shuffle(rels)
    for rel in rels:
        put(raw, rel, [])
    got = [(f.task, f.split, f.label(raw)) for f in find_annotation_files(raw)]
    assert got == [
        ("bone_age", "train", "bone_age/train_annotations.json"),
        ("bone_age", "val", "annotations/bone_age/val_annotations.json"),
        ("bone_age", "test", "bone_age/test_annotations.json"),
        ("bone_age", None, "bone_age/annotations.json"),
        ("rop_screening", "train", "annotations/rop_screening/train_annotations.json"),
        ("rop_screening", "val", "annotations/rop_screening_val_annotations.json"),
        ("fractures", "holdout", "annotations/fractures_holdout_annotations.json"),
        ("fractures", None, "fractures/annotations.json"),
    ]
    assert [f.path for f in find_annotation_files(raw)] == [f.path for f in find_annotation_files(raw)]


def planted(raw: Path) -> None:
    put(
        raw,
        "bone_age/train_annotations.json",
        [
            {
                "image_path": "train/h1.dcm",
                "bone_age_months": 120,
                "age_months": 118.5,
                "sex": "female",
                "patient_id": " p1 ",
            },  # fmt: skip
            {"image_id": "h2", "bone_age_months": "96", "age_months": 90, "sex": "M"},
            {"image_path": "train/h3.dcm", "bone_age_months": 100, "age_months": 100, "sex": "X"},
            {"image_path": "train/h1.dcm", "bone_age_months": 121, "age_months": 118, "sex": "F"},  # duplicate
        ],
    )
    put(
        raw,
        "annotations/bone_age_test_annotations.json",
        [
            {"image_id": "h1", "bone_age_months": 50, "age_months": 52, "sex": "MALE"},  # h1 twice: split decides
            {"image_path": "test/missing.dcm", "bone_age_months": 10, "age_months": 10, "sex": "M"},
            {"image_path": "val/h4.dcm", "bone_age_months": 10, "age_months": 10, "sex": "M"},  # wrong split folder
            {"image_path": "test/h9.dcm", "bone_age_months": -4, "age_months": 10, "sex": "F"},
        ],
    )
    put(
        raw,
        "rop_screening/train_annotations.json",
        [
            {"image_path": "zone_i_stage2/e1.png", "zone": "i", "stage": 2, "plus_disease": "yes", "sex": "male"},
            {"image_path": "zone_ii_stage1/e2.png", "zone": 2, "stage": "1", "plus_disease": False},
            {"image_path": "normal_pupil/e3.png", "zone": None, "stage": 0, "plus_disease": "no"},
            {"image_path": "zone_x/e3b.png", "zone": "IV", "stage": 3, "plus_disease": True},
        ],
    )
    put(
        raw,
        "annotations/rop_screening_val_annotations.json",
        [
            {"image_id": "e1", "zone": "II", "stage": 7, "plus_disease": True},  # stage 7 (and e1 again)
            {"image_path": "zone_ii_stage1/e2.png", "zone": "II", "stage": 1, "plus_disease": 1},
            "not a record",
        ],
    )
    put(
        raw,
        "fractures/annotations.json",
        [
            {
                "image_path": "distal_radius/f1.png",
                "fracture": True,
                "fracture_type": "Buckle",
                "location": "distal_radius",
                "age_months": 84,
                "clinical_context": "fell  on hand",
            },  # fmt: skip
            {"image_path": "buckle/f2.jpg", "fracture": True, "fracture_type": "none", "location": "distal_radius"},
            {"image_path": "normal/f3.png", "fracture": "no", "fracture_type": "none", "location": "None"},
            {"image_path": "normal/f4.png", "fracture": False, "fracture_type": "buckle", "location": "none"},
        ],
    )
    put(raw, "annotations/fractures_val_annotations.json", '[{"image_path": "normal/f4.png",')  # malformed
    put(raw, "annotations/fractures_test_annotations.json", {"image_path": "normal/f4.png"})  # not an array
    put(raw, "annotations/notes.json", [])  # stray


@pytest.fixture
def loaded(tmp_path):
    raw = make_raw(tmp_path)
    planted(raw)
    return raw, load_annotations(raw)


def line_for(rejected: list[str], start: str) -> str:
    hits = [r for r in rejected if r.startswith(start)]
    assert len(hits) == 1, (start, rejected)
    return hits[0]


@pytest.mark.parametrize(
    ("start", "field_msg"),
    [
        ("rop_screening/train_annotations.json[3] (zone_x/e3b.png)", "zone: must be I, II or III, got 'IV'"),
        ("annotations/rop_screening_val_annotations.json[0] (e1)", "stage: must be an integer 0..5, got 7"),
        (
            "annotations/bone_age_test_annotations.json[1] (test/missing.dcm)",
            "image_path: file not found: test/missing.dcm",
        ),
        (
            "annotations/bone_age_test_annotations.json[3] (test/h9.dcm)",
            "bone_age_months: must be within 0..228 months, got -4",
        ),
        ("bone_age/train_annotations.json[2] (train/h3.dcm)", "sex: must be M or F (or male/female), got 'X'"),
        (
            "fractures/annotations.json[1] (buckle/f2.jpg)",
            "fracture_type: must name the fracture when fracture is true, got 'none'",
        ),
        (
            "fractures/annotations.json[3] (normal/f4.png)",
            "fracture_type: must be 'none' when fracture is false, got 'buckle'",
        ),
        (
            "annotations/rop_screening_val_annotations.json[1] (zone_ii_stage1/e2.png)",
            "plus_disease: must be true or false",
        ),
        (
            "annotations/bone_age_test_annotations.json[2] (val/h4.dcm)",
            "image_path: val/h4.dcm lies in the val/ folder",
        ),
        ("annotations/rop_screening_val_annotations.json[2]", "record: must be a JSON object, got a string"),
    ],
)
def test_planted_bad_records_are_rejected_naming_file_and_field(loaded, start, field_msg):
    _, a = loaded
    line = line_for(a.rejected, start)
    assert f"{start}: " in line and field_msg in line
    assert "\n" not in line


def test_duplicate_image_is_rejected_the_second_time_naming_both(loaded):
    _, a = loaded
    line = line_for(a.rejected, "bone_age/train_annotations.json[3] (train/h1.dcm)")
    assert "image_path: duplicate" in line and "bone_age/train_annotations.json[0]" in line
    assert [r["annotation"] for r in a.records if r["source"] == "bone_age/train/h1.dcm"] == [
        "bone_age/train_annotations.json[0]"
    ]


def test_whole_file_rejections_and_stray_files_are_one_line_each_and_the_run_goes_on(loaded):
    _, a = loaded
    assert "not valid JSON" in line_for(a.rejected, "annotations/fractures_val_annotations.json: ")
    assert "must be a JSON array of records, got a JSON object" in line_for(
        a.rejected, "annotations/fractures_test_annotations.json: "
    )
    assert "not a recognised annotation file name" in line_for(a.rejected, "annotations/notes.json: ")
    assert any(r["task"] == "fractures" for r in a.records)


def test_good_records_are_normalised(loaded):
    _, a = loaded
    by = {r["source"]: r for r in a.records}
    h1 = by["bone_age/train/h1.dcm"]
    assert h1 == {
        "task": "bone_age",
        "split": "train",
        "source": "bone_age/train/h1.dcm",
        "image": "train/h1.dcm",
        "patient_id": "p1",
        "annotation": "bone_age/train_annotations.json[0]",
        "bone_age_months": 120.0,
        "age_months": 118.5,
        "sex": "F",
    }
    assert by["bone_age/train/h2.dcm"]["bone_age_months"] == 96.0  # image_id resolved, numeric string read
    assert by["bone_age/test/h1.dcm"]["sex"] == "M"  # image_id h1 in two folders: the file's split decides
    e1, e2, e3 = (
        by[f"rop_screening/{k}"] for k in ("zone_i_stage2/e1.png", "zone_ii_stage1/e2.png", "normal_pupil/e3.png")
    )
    assert (e1["zone"], e1["stage"], e1["plus_disease"], e1["sex"]) == ("I", 2, True, "M")
    assert (e2["zone"], e2["stage"], e2["plus_disease"]) == ("II", 1, False)
    assert (e3["zone"], e3["stage"], e3["plus_disease"], e3["postmenstrual_age_weeks"]) == (None, 0, False, None)
    f1, f3 = by["fractures/distal_radius/f1.png"], by["fractures/normal/f3.png"]
    assert (f1["fracture"], f1["fracture_type"], f1["location"], f1["clinical_context"]) == (
        True, "buckle", "distal_radius", "fell on hand")  # fmt: skip
    assert (f3["fracture"], f3["fracture_type"], f3["location"], f3["split"]) == (False, "none", "none", None)


def test_counts_add_up(loaded):
    raw, a = loaded
    check_counts(a)
    c = a.counts
    assert (c["records"], c["clean"], c["rejected"]) == (19, 8, 11)
    assert c["files_rejected"] == 3 and len(a.rejected) == 14
    assert c["images"] == sum(len(v) for v in IMAGES.values())
    # every image is labelled, named only by rejected records, or unlabelled
    assert a.unlabelled == ["bone_age/val/h5.dcm"]
    assert a.rejected_only == [
        "bone_age/test/h9.dcm",
        "bone_age/train/h3.dcm",
        "bone_age/val/h4.dcm",
        "fractures/buckle/f2.jpg",
        "fractures/normal/f4.png",
        "rop_screening/zone_x/e3b.png",
    ]
    everything = {r["source"] for r in a.records} | set(a.rejected_only) | set(a.unlabelled)
    assert everything == {f"{t}/{rel}" for t, rels in IMAGES.items() for rel in rels}


def test_unreferenced_images_lists_what_no_record_names(tmp_path):
    raw = make_raw(tmp_path)
    put(raw, "fractures/annotations.json", [GOOD["fractures"]])
    (raw / "fractures" / "normal" / ".hidden.png").write_bytes(b"x")
    (raw / "fractures" / "normal" / "notes.txt").write_text("x")
    records, _ = read_annotations(raw)
    left = unreferenced_images(raw, records)
    assert "fractures/distal_radius/f1.png" not in left
    assert left == sorted(left, key=lambda s: (TASKS.index(s.split("/")[0]), s))
    assert len(left) == sum(len(v) for v in IMAGES.values()) - 1
    assert load_annotations(raw).unlabelled == left


def test_validate_record_directly(tmp_path):
    raw = make_raw(tmp_path)
    images = task_images(raw, "rop_screening")
    clean, reason = validate_record(
        "rop_screening",
        {"image_path": "zone_x/e3b.png", "zone": "IV", "stage": 3, "plus_disease": True},
        file_label="rop_screening/train_annotations.json",
        index=12,
        task_dir=raw / "rop_screening",
        images=set(images),
        split="train",
    )
    assert clean is None
    assert reason == "rop_screening/train_annotations.json[12] (zone_x/e3b.png): zone: must be I, II or III, got 'IV'"
    clean, reason = validate_record(
        "rop_screening",
        {"image_id": "e2", "zone": "Zone III", "stage": 3.0, "plus_disease": "No"},
        file_label="x.json",
        index=0,
        task_dir=raw / "rop_screening",
        images=set(images),
    )
    assert reason is None
    assert (clean["source"], clean["zone"], clean["stage"], clean["plus_disease"], clean["split"]) == (
        "rop_screening/zone_ii_stage1/e2.png", "III", 3, False, None)  # fmt: skip
    _, reason = validate_record(
        "rop_screening",
        {"image_id": "e2", "stage": 2, "plus_disease": False},
        file_label="x.json",
        index=1,
        images=images,
    )
    assert reason.startswith("x.json[1] (e2): zone: missing")
