import json
import re
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from radtune.errors import ConfigError
from radtune.imaging import encode_image
from radtune.params import compose, validate
from radtune.pseudonym import pseudonym
from radtune.shards import ShardWriter
from radtune.variants.pedirad_8k import stages
from radtune.variants.pedirad_8k.annotate import Settings, annotate, settings
from radtune.variants.pedirad_8k.labelcsv import csv_report, read_labels_csv

KEY = "k"
ROOT_CONF = Path(__file__).resolve().parents[1] / "conf"


def _rec(source, sex="M", age=48, image_id=None, patient_source="header"):
    return {
        "source": source,
        "status": "ok",
        "stage": "normalize",
        "reason": None,
        "image_id": image_id or f"i-{source}",
        "patient_id": "Pheader",
        "patient_id_source": patient_source,
        "header_sex": sex,
        "header_age_months": age,
    }


def _jpg(source, image_id=None):
    """A JPG/PNG input: no header, its own patient (normalize keys it by content hash)."""
    return {**_rec(source, sex=None, age=None, image_id=image_id, patient_source="file"), "patient_id": f"Pf-{source}"}


def _annotate(records, labels=None, digests=None, **kw):
    """annotate() with distinct pixels per image unless `digests` says otherwise."""
    digests = digests or {r["image_id"]: r["image_id"] for r in records}
    out, matches = annotate(records, labels, Settings(KEY, **kw), digests)
    return out, matches


def _csv(tmp_path, text, encoding="utf-8"):
    path = tmp_path / "labels.csv"
    path.write_bytes(text.encode(encoding))
    return read_labels_csv(path)


def test_labels_from_name_and_csv(tmp_path):
    labels = _csv(
        tmp_path,
        "filename,bone_age_months,clinical_context\n"
        "patient_048m_M_buckle_distal_radius_0001.dcm,51.5,Fell on outstretched hand\n",
    )
    [r], _ = _annotate([_rec("patient_048m_M_buckle_distal_radius_0001.dcm")], labels)
    assert r["status"] == "ok" and r["fracture"] and r["fracture_type"] == "buckle"
    assert r["location"] == "distal_radius" and r["bone_age_months"] == 51.5
    assert r["clinical_context"] == "Fell on outstretched hand" and r["label_flags"] == []
    assert r["label_source"] == "filename+csv"


def test_mismatch_between_name_and_header_is_flagged():
    [r], _ = _annotate([_rec("patient_048m_M_normal_0002.dcm", sex="F", age=70)])
    assert r["status"] == "ok" and not r["fracture"] and r["location"] == "none"
    assert any("(0010,0040)" in f for f in r["label_flags"]) and any("age" in f for f in r["label_flags"])


def test_unlabelled_file_is_rejected_with_reason_and_passthrough():
    rejected_before = {**_rec("x.dcm"), "status": "rejected", "stage": "normalize", "reason": "bad"}
    out, _ = _annotate([_rec("scan_17.dcm"), rejected_before])
    assert out[0]["status"] == "rejected" and out[0]["stage"] == "annotate"
    assert "scan_17.dcm" in out[0]["reason"] and "fracture" in out[0]["reason"]
    assert out[1] == rejected_before


def test_csv_can_label_any_file_and_pseudonymise_its_patient_id(tmp_path):
    labels = _csv(
        tmp_path,
        "filename,age_months,sex,fracture_type,location,patient_id\nimg1.jpg,30,F,greenstick,radial_shaft,MRN123\n",
    )
    [r], _ = _annotate([_jpg("img1.jpg")], labels)
    assert (r["age_months"], r["sex"], r["fracture_type"]) == (30, "F", "greenstick")
    assert r["patient_id"] == pseudonym("id:MRN123", KEY) and "MRN123" not in str(r)


def test_bad_csv_value_and_bad_csv_columns(tmp_path):
    labels = _csv(tmp_path, "filename,bone_age_months\npatient_048m_M_normal.dcm,forty\n")
    [r], _ = _annotate([_rec("patient_048m_M_normal.dcm")], labels)
    assert r["status"] == "rejected" and "bone_age_months 'forty' is not a number" in r["reason"]
    with pytest.raises(ConfigError, match="'filename' column"):
        _csv(tmp_path, "file,bone_age\n")


# ----------------------------------------------------------------------------- point 4: labels checked


def test_excel_csv_with_bom_and_any_letter_case(tmp_path):
    """A labels.csv saved by Excel: UTF-8 byte-order mark, capitalised column names, file names
    in another letter case than on disk."""
    labels = _csv(
        tmp_path,
        "\ufeffFileName,Bone_Age_Months,Clinical_Context\r\nIMG_0042.JPG,61,fell\r\nTrain\\Patient_048M_M_Normal.DCM,50,x\r\n",
    )
    recs = [_rec("img_0042.jpg"), _rec("train/patient_048m_M_normal.dcm")]
    out, m = _annotate(recs, labels)
    assert m.unmatched == 0 and set(m.row_of) == {"img_0042.jpg", "train/patient_048m_M_normal.dcm"}
    assert out[1]["status"] == "ok" and out[1]["bone_age_months"] == 50.0
    assert "fell" == m.row_of["img_0042.jpg"]["clinical_context"]


def test_csv_that_is_not_utf8_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not UTF-8 text.*CSV UTF-8"):
        _csv(tmp_path, "filename,clinical_context\nx.jpg,Unfall beim Radfahren \u00fcber Stock\n", encoding="cp1252")


def test_csv_rows_matching_no_file_are_reported_each_with_a_count(tmp_path):
    labels = _csv(
        tmp_path,
        "filename,bone_age_months\npatient_048m_M_normal.dcm,50\nmissing_a.jpg,3\nMISSING_b.png,4\n,\n",
    )
    _, m = _annotate([_rec("patient_048m_M_normal.dcm")], labels)
    assert m.unmatched == 2
    lines = csv_report(labels, m)
    assert "labels.csv line 3: 'missing_a.jpg' matches no input file" in lines[0]
    assert "labels.csv line 4: 'MISSING_b.png' matches no input file" in lines[1]
    assert lines[-1].startswith("labels.csv: 3 rows: 1 match an input file, 2 match no input file")


def test_duplicate_rows_for_one_file(tmp_path):
    """Rows that agree count once (reported); rows that disagree hold the file out."""
    labels = _csv(
        tmp_path,
        "filename,bone_age_months\n"
        "patient_048m_M_normal.dcm,50\npatient_048m_m_normal.DCM,50\n"
        "patient_060m_F_normal.dcm,62\npatient_060m_F_normal.dcm,70\n",
    )
    out, m = _annotate([_rec("patient_048m_M_normal.dcm"), _rec("patient_060m_F_normal.dcm", sex="F", age=60)], labels)
    assert out[0]["status"] == "ok" and out[0]["bone_age_months"] == 50.0
    assert any("lines 2, 3 all name patient_048m_M_normal.dcm" in n for n in m.notes)
    assert out[1]["status"] == "rejected"
    assert "labels.csv lines 4, 5" in out[1]["reason"] and "bone_age_months '62' vs '70'" in out[1]["reason"]
    assert m.repeated == 2 and m.unmatched == 0


@pytest.mark.parametrize(
    "source, csv_row, needle",
    [
        ("patient_048m_M_normal.dcm", "-5", "bone_age_months -5 months (labels.csv) is outside"),
        ("patient_999m_M_normal.dcm", "", "age 999 months (file name) is outside"),
        ("patient_048m_M_normal.dcm", "300", "bone_age_months 300 months (labels.csv) is outside"),
    ],
)
def test_ages_outside_the_range_are_rejected_naming_the_key(tmp_path, source, csv_row, needle):
    labels = _csv(tmp_path, f"filename,bone_age_months\n{source},{csv_row}\n")
    [r], _ = _annotate([_rec(source, age=None)], labels)
    assert r["status"] == "rejected" and needle in r["reason"]
    assert "dataset.annotate.age_range_months [0, 228]" in r["reason"]


def test_age_range_is_configurable(tmp_path):
    labels = _csv(tmp_path, "filename,bone_age_months\npatient_240m_M_normal.dcm,250\n")
    [r], _ = _annotate([_rec("patient_240m_M_normal.dcm", age=None)], labels, age_range=(0, 300))
    assert r["status"] == "ok" and (r["age_months"], r["bone_age_months"]) == (240, 250.0)
    [r], _ = _annotate([_rec("patient_240m_M_normal.dcm", age=None)], labels)
    assert r["status"] == "rejected"


def test_identical_pixels_with_conflicting_labels_are_held_out_naming_the_other_file():
    recs = [
        _jpg("patient_036m_F_normal.jpg", "a"),
        _jpg("copies/patient_036m_F_greenstick_distal_radius.jpg", "b"),
        _jpg("patient_050m_M_normal.jpg", "c"),
        _jpg("patient_050m_M_normal_0002.png", "d"),  # the same pixels, the same labels: kept
    ]
    out, _ = _annotate(recs, digests={"a": "h1", "b": "h1", "c": "h2", "d": "h2"})
    assert [r["status"] for r in out] == ["rejected", "rejected", "ok", "ok"]
    assert "identical pixels to copies/patient_036m_F_greenstick_distal_radius.jpg" in out[0]["reason"]
    assert "identical pixels to patient_036m_F_normal.jpg" in out[1]["reason"]
    assert "fracture_type greenstick vs none" in out[0]["reason"]
    assert out[1]["reason"].startswith("copies/patient_036m_F_greenstick_distal_radius.jpg: ")


# ----------------------------------------------------------------------------- point 6: messages


def test_wrong_fracture_type_is_named_not_age_or_sex():
    [r], _ = _annotate([_jpg("patient_028m_M_spiral_distal_radius.jpg")])
    assert r["status"] == "rejected"
    assert r["reason"].startswith("patient_028m_M_spiral_distal_radius.jpg: file name: unknown fracture type 'spiral'")
    assert "age" not in r["reason"] and "sex" not in r["reason"]


def test_reasons_name_the_path_under_the_raw_folder():
    out, _ = _annotate([_jpg("export/2024/scan_17.jpg"), _jpg("val/patient_028m_M_buckle_elbow.png")])
    assert out[0]["reason"].startswith("export/2024/scan_17.jpg: ")
    assert out[1]["reason"].startswith("val/patient_028m_M_buckle_elbow.png: file name: unknown location 'elbow'")


# ----------------------------------------------------------------------------- point 5: patients


def test_jpgs_are_their_own_patients_unless_a_pattern_groups_them(tmp_path):
    labels = _csv(
        tmp_path,
        "filename,age_months,sex,fracture_type\nchild07_pa.jpg,30,F,normal\nchild07_lat.jpg,30,F,normal\n"
        "child08_pa.jpg,40,M,normal\nxray.jpg,40,M,normal\n",
    )
    recs = [_jpg("child07_pa.jpg"), _jpg("child07_lat.jpg"), _jpg("child08_pa.jpg")]
    plain, _ = _annotate(recs, labels)
    assert len({r["patient_id"] for r in plain}) == 3
    grouped, _ = _annotate(recs + [_jpg("xray.jpg")], labels, patient_pattern=re.compile(r"^(child\d+)_"))
    a, b, c, d = grouped
    assert a["patient_id"] == b["patient_id"] == pseudonym("id:child07", KEY) != c["patient_id"]
    assert a["patient_id_source"] == "pattern"
    assert d["status"] == "rejected" and "does not match dataset.annotate.patient_pattern" in d["reason"]


def test_header_patient_id_is_kept_under_a_pattern():
    [r], _ = _annotate([_rec("patient_048m_M_normal.dcm")], patient_pattern=re.compile(r"(\d+)"))
    assert r["status"] == "ok" and r["patient_id"] == "Pheader"


# ----------------------------------------------------------------------------- settings, checked up front


@pytest.mark.parametrize(
    "key, value",
    [
        ("dataset.annotate.age_range_months", [228, 0]),
        ("dataset.annotate.age_range_months", "0-228"),
        ("dataset.annotate.patient_pattern", "(child"),  # does not compile
        ("dataset.annotate.patient_pattern", r"child\d+"),  # no group
    ],
)
def test_bad_annotate_settings_fail_up_front_naming_the_key(key, value):
    cfg = compose(conf_dir=ROOT_CONF)
    OmegaConf.update(cfg, key, value, merge=False)
    with pytest.raises(ConfigError, match=re.escape(f"'{key}'")):
        validate(cfg)
    with pytest.raises(ValueError):  # the stage reads the setting with the same definition
        settings(cfg.dataset.annotate, KEY)


def test_default_annotate_settings():
    s = settings(compose(conf_dir=ROOT_CONF).dataset.annotate, KEY)
    assert s.age_range == (0.0, 228.0) and s.patient_pattern is None


# ----------------------------------------------------------------------------- the stage


def test_stage_logs_unmatched_rows_and_counts_add_up(tmp_path, capsys):
    raw, norm = tmp_path / "raw", tmp_path / "norm"
    raw.mkdir()
    norm.mkdir()
    img = np.full((8, 8), 100, np.uint8)
    recs = [_jpg("patient_036m_F_normal.jpg", "a"), _jpg("patient_036m_F_greenstick_distal_radius.jpg", "b")]
    recs.append(_jpg("patient_028m_M_spiral_distal_radius.jpg", "c"))
    recs.append(_jpg("patient_050m_M_normal.jpg", "d"))  # one good image: a stage left with none stops
    with ShardWriter(norm / "images") as shards:
        for r in recs:  # a and b: the same pixels
            pixels = img + (r["image_id"] == "c") + 2 * (r["image_id"] == "d")
            shards.add(f"{r['image_id']}.jpg", encode_image(pixels, "jpg"))
    (norm / "records.json").write_text(json.dumps(recs))
    (raw / "labels.csv").write_text("filename,bone_age_months\nPATIENT_036m_F_normal.jpg,40\nnot_here.jpg,1\n")
    p = compose(conf_dir=ROOT_CONF)
    stages.annotate(p, raw=raw, normalized=norm, out=tmp_path / "annotate.json")
    err = capsys.readouterr()
    out = json.loads((tmp_path / "annotate.json").read_text())
    assert len(out) == 4 and [r["status"] for r in out].count("rejected") == 3
    assert "annotate: labels.csv line 3: 'not_here.jpg' matches no input file" in err.err
    assert "labels.csv: 2 rows: 1 match an input file, 1 match no input file" in err.err
    assert "annotate: rejected: patient_036m_F_normal.jpg: identical pixels to" in err.err
    assert "unknown fracture type 'spiral'" in err.err
    assert "annotate: inputs: 4, ok: 1, rejected: 3 (annotate 3)" in err.out
