"""radtune synth ct_v4: byte-deterministic, CT in Hounsfield units, the planted defects."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

from radtune.synth import generate


def tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ctsynth") / "raw"
    generate("ct_v4", out, n=60, seed=3)
    return out


def test_byte_deterministic(raw: Path, tmp_path: Path) -> None:
    generate("ct_v4", tmp_path / "again", n=60, seed=3)
    assert tree_digest(raw) == tree_digest(tmp_path / "again")
    generate("ct_v4", tmp_path / "other", n=60, seed=4)
    assert tree_digest(raw) != tree_digest(tmp_path / "other")


def test_layout_and_counts(raw: Path) -> None:
    v3 = json.loads((raw / "v3/_annotations.coco.json").read_text())
    rf = json.loads((raw / "roboflow/_annotations.coco.json").read_text())
    assert [c["name"] for c in v3["categories"]] == ["IPH", "IVH", "SAH", "SDH"]
    assert len(rf["categories"]) == 8
    assert {"epidural", "Intraparenchymal ", "calcification", "hemorrhage-types"} <= {
        c["name"] for c in rf["categories"]
    }
    assert len(v3["images"]) + len(rf["images"]) - 1 == 60  # one roboflow image entry has no file
    # ids collide between the sources
    assert {im["id"] for im in v3["images"]} & {im["id"] for im in rf["images"]}
    missing = [im for im in rf["images"] if not (raw / "roboflow/images" / im["file_name"]).exists()]
    assert len(missing) == 1
    img_ids = {im["id"] for im in rf["images"]}
    assert any(a["image_id"] not in img_ids for a in rf["annotations"])
    oob = [a for a in rf["annotations"] if a["bbox"][0] < 0 or a["bbox"][0] + a["bbox"][2] > 256]
    assert len(oob) >= 2


def test_ct_pixels_are_hounsfield_units(raw: Path) -> None:
    v3 = json.loads((raw / "v3/_annotations.coco.json").read_text())
    iph = next(a for a in v3["annotations"] if a["category_id"] == 0)
    im = next(i for i in v3["images"] if i["id"] == iph["image_id"])
    ds = pydicom.dcmread(raw / "v3/images" / im["file_name"])
    assert ds.Modality == "CT" and float(ds.RescaleIntercept) == -1024 and float(ds.RescaleSlope) == 1
    assert ds.PatientID and ds.PatientName and ds.AccessionNumber and ds.InstitutionName
    hu = apply_modality_lut(ds.pixel_array, ds)
    assert hu[0, 0] == -1000  # air
    assert hu.max() > 1000  # skull
    x, y, w, h = (int(v) for v in iph["bbox"])
    box = hu[y : y + h, x : x + w]
    assert ((box >= 50) & (box <= 95)).mean() > 0.3  # hyperdense blood fills its box
    assert 20 < np.median(hu[100:156, 60:80]) < 45  # brain parenchyma


def test_shared_patient_and_bucket(raw: Path) -> None:
    def pids(folder: Path) -> set[str]:
        return {pydicom.dcmread(p, stop_before_pixels=True).PatientID for p in folder.rglob("*.dcm")}

    shared = pids(raw / "v3/images") & pids(raw / "roboflow/images")
    assert len(shared) == 1
    rows = (raw / "metadata/no_hemorrhage_feedback.csv").read_text().splitlines()
    assert rows[0] == "s3_key,feedback"
    assert {r.split(",")[1] for r in rows[1:]} == {"FP", "TN"}
    bucket = sorted(p for p in (raw / "bucket").rglob("*") if p.is_file())
    assert len(bucket) == len(rows) - 1
    not_dicom = [p for p in bucket if p.read_bytes()[128:132] != b"DICM"]
    assert len(not_dicom) == 1
    thick = set()
    for p in bucket:
        if p not in not_dicom:
            thick.add(float(pydicom.dcmread(p, stop_before_pixels=True).SliceThickness))
    assert {5.0, 5.5} <= thick and thick - {5.0, 5.5}
