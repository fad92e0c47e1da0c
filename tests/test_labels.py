import pytest

from radtune.normalize import NormalizeSettings, age_months_from_header, normalize_one
from radtune.variants.pedirad_8k.labels import (
    FileLabels,
    age_range,
    format_filename,
    parse_filename,
    parse_name,
)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("patient_048m_M_buckle_distal_radius.dcm", FileLabels(48, "M", True, "buckle", "distal_radius")),
        ("patient_002m_F_normal_0007.dcm", FileLabels(2, "F", False, "none", "none")),
        (
            "train/patient_120m_F_salter_harris_ii_distal_ulna_0003.dcm",
            FileLabels(120, "F", True, "salter_harris_ii", "distal_ulna"),
        ),
        ("patient_144m_M_greenstick_radial_shaft.jpg", FileLabels(144, "M", True, "greenstick", "radial_shaft")),
    ],
)
def test_parse_filename(name, expected):
    assert parse_filename(name) == expected


@pytest.mark.parametrize(
    "name, needle",
    [
        ("scan_001.dcm", "does not follow"),
        ("patient_048m_X_normal.dcm", "sex part 'X' is not M or F"),
        ("patient_48_M_normal.dcm", "age part '48' is not <months>m"),
        ("patient_048m_M_hairline_distal_radius.dcm", "unknown fracture type"),
        ("patient_048m_M_buckle_elbow.dcm", "unknown location"),
    ],
)
def test_parse_filename_rejects(name, needle):
    with pytest.raises(ValueError, match=needle):
        parse_filename(name)


@pytest.mark.parametrize(
    "name, parts",
    [
        # point 6: the wrong part is named and the right ones still count
        (
            "patient_028m_M_spiral_distal_radius.jpg",
            dict(age_months=28, sex="M", fracture_type=None, location="distal_radius", wrong="fracture_type"),
        ),
        ("patient_028m_M_spiral.jpg", dict(age_months=28, sex="M", fracture_type=None, wrong="fracture_type")),
        ("patient_028m_Q_buckle_distal_ulna.png", dict(age_months=28, sex=None, fracture_type="buckle", wrong="sex")),
        ("patient_x_F_normal_0003.png", dict(age_months=None, sex="F", fracture_type="none", wrong="age_months")),
        ("patient_028m_F_buckle.png", dict(age_months=28, fracture_type="buckle", location=None, wrong="location")),
    ],
)
def test_name_is_read_part_by_part(name, parts):
    n = parse_name(name)
    wrong = parts.pop("wrong")
    assert n.follows and list(n.problems) == [wrong]
    assert {k: getattr(n, k) for k in parts} == parts


def test_unknown_fracture_type_names_the_part_not_age_or_sex():
    with pytest.raises(ValueError) as e:
        parse_filename("patient_028m_M_spiral_distal_radius.jpg")
    assert "unknown fracture type 'spiral'" in str(e.value)
    assert "age" not in str(e.value) and "sex" not in str(e.value)


def test_name_outside_the_convention():
    n = parse_name("IMG_0042.PNG")
    assert (n.follows, n.age_months, n.sex, n.fracture_type, n.location) == (False, None, None, None, None)
    assert list(n.problems) == ["name"] and "'IMG_0042' does not follow patient_<age>m_" in n.problems["name"]


@pytest.mark.parametrize("value, expected", [([0, 228], (0.0, 228.0)), ((12, 240.5), (12.0, 240.5))])
def test_age_range(value, expected):
    assert age_range(value) == expected


@pytest.mark.parametrize("value", [[228, 0], [-1, 228], [0], [0, 1, 2], "0-228", [0, "x"], [True, 5], None, 228])
def test_age_range_refuses(value):
    with pytest.raises(ValueError, match="0 <= min < max"):
        age_range(value)


def test_normalize_rejection_names_the_path_under_the_raw_folder(tmp_path):
    """point 6: the user's file name relative to the raw folder, not only its base name"""
    raw = tmp_path / "raw"
    (raw / "train").mkdir(parents=True)
    (raw / "train" / "broken.jpg").write_bytes(b"not a jpeg at all")
    s = NormalizeSettings(size=64, window="file", auto_percentiles=(1.0, 99.0), jpeg_quality=95, key="k")
    r, image = normalize_one(raw / "train" / "broken.jpg", raw, s)
    assert image is None and r["status"] == "rejected" and r["reason"].startswith("train/broken.jpg: ")


def test_format_roundtrip():
    labels = FileLabels(7, "F", True, "oblique", "ulnar_shaft")
    assert parse_filename(format_filename(labels, suffix=12)) == labels


@pytest.mark.parametrize(
    "age, birth, study, months",
    [
        ("048M", None, None, 48),
        ("004Y", None, None, 48),
        ("030D", None, None, 0),
        ("026W", None, None, 5),
        (None, "20150310", "20190309", 47),
        (None, "20150310", "20190310", 48),
        ("", "bad", "20190310", None),
    ],
)
def test_age_months_from_header(age, birth, study, months):
    assert age_months_from_header(age, birth, study) == months
