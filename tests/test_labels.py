import pytest

from radtune.normalize import age_months_from_header
from radtune.variants.pedirad_8k.labels import FileLabels, format_filename, parse_filename


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
        ("patient_048m_X_normal.dcm", "does not follow"),
        ("patient_048m_M_hairline_distal_radius.dcm", "unknown fracture type"),
        ("patient_048m_M_buckle_elbow.dcm", "unknown location"),
    ],
)
def test_parse_filename_rejects(name, needle):
    with pytest.raises(ValueError, match=needle):
        parse_filename(name)


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
