import pytest

from radtune.errors import ConfigError
from radtune.pseudonym import pseudonym
from radtune.variants.pedirad_8k.annotate import annotate, read_labels_csv

KEY = "k"


def _rec(source, sex="M", age=48):
    return {
        "source": source,
        "status": "ok",
        "stage": "normalize",
        "reason": None,
        "image_id": "i",
        "patient_id": "Pheader",
        "header_sex": sex,
        "header_age_months": age,
    }


def test_labels_from_name_and_csv(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text(
        "filename,bone_age_months,clinical_context\n"
        "patient_048m_M_buckle_distal_radius_0001.dcm,51.5,Fell on outstretched hand\n"
    )
    rows = read_labels_csv(csv)
    [r] = annotate([_rec("patient_048m_M_buckle_distal_radius_0001.dcm")], rows, KEY)
    assert r["status"] == "ok" and r["fracture"] and r["fracture_type"] == "buckle"
    assert r["location"] == "distal_radius" and r["bone_age_months"] == 51.5
    assert r["clinical_context"] == "Fell on outstretched hand" and r["label_flags"] == []
    assert r["label_source"] == "filename+csv"


def test_mismatch_between_name_and_header_is_flagged():
    [r] = annotate([_rec("patient_048m_M_normal_0002.dcm", sex="F", age=70)], {}, KEY)
    assert r["status"] == "ok" and not r["fracture"] and r["location"] == "none"
    assert any("(0010,0040)" in f for f in r["label_flags"]) and any("age" in f for f in r["label_flags"])


def test_unlabelled_file_is_rejected_with_reason_and_passthrough():
    rejected_before = {**_rec("x.dcm"), "status": "rejected", "stage": "normalize", "reason": "bad"}
    out = annotate([_rec("scan_17.dcm"), rejected_before], {}, KEY)
    assert out[0]["status"] == "rejected" and out[0]["stage"] == "annotate"
    assert "scan_17.dcm" in out[0]["reason"] and "fracture" in out[0]["reason"]
    assert out[1] == rejected_before


def test_csv_can_label_any_file_and_pseudonymise_its_patient_id(tmp_path):
    csv = tmp_path / "l.csv"
    csv.write_text(
        "filename,age_months,sex,fracture_type,location,patient_id\nimg1.jpg,30,F,greenstick,radial_shaft,MRN123\n"
    )
    [r] = annotate([_rec("img1.jpg", sex=None, age=None)], read_labels_csv(csv), KEY)
    assert (r["age_months"], r["sex"], r["fracture_type"]) == (30, "F", "greenstick")
    assert r["patient_id"] == pseudonym("id:MRN123", KEY) and "MRN123" not in str(r)


def test_bad_csv_value_and_bad_csv_columns(tmp_path):
    csv = tmp_path / "l.csv"
    csv.write_text("filename,bone_age_months\npatient_048m_M_normal.dcm,forty\n")
    [r] = annotate([_rec("patient_048m_M_normal.dcm")], read_labels_csv(csv), KEY)
    assert r["status"] == "rejected" and "bone_age_months 'forty' is not a number" in r["reason"]
    csv.write_text("file,bone_age\n")
    with pytest.raises(ConfigError, match="'filename' column"):
        read_labels_csv(csv)
