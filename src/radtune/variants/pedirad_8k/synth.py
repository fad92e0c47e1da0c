"""PediRad-8K synthetic sample: pediatric hand / wrist / forearm radiographs as DICOM.

``generate(out_dir, n=600, seed=0)`` writes ``n`` files named in the label convention of
:mod:`radtune.labels` (always with a 4-digit running suffix) plus ``labels.csv``
(filename, bone_age_months, clinical_context). Same (n, seed) => byte-identical files.

* Patients: age 2-144 months (gamma-like, mean ~48), ~52% boys, fracture in ~55% of
  patients (buckle > greenstick > transverse > Salter-Harris II > oblique; mostly the
  distal radius), 1-3 views each (PA, lateral, oblique) in one study with one header.
* Pixels (see :mod:`radtune.synth.anatomy`): skeletal maturity follows the bone age
  (carpal count and size, epiphysis size, physis gap, hand size); a fracture is a coarse
  cortical break with displacement/angulation (buckle: cortical bulge) plus swelling.
* Headers: DX or CR, MONOCHROME1/2, rescale, windows (single or two), VOI LUT sequences
  (16 or 8 bit, sigmoid or linear) or nothing, Explicit VR LE / RLE / JPEG 2000 lossless,
  and fake but distinctive PHI (see :data:`PHI_TAGS`).
* Planted trouble (names in the summary): a truncated file, a file without Pixel Data,
  two underexposed images (narrow low stored range, noisy, no window/LUT) and a text file
  named ``.dcm``.

``out_dir`` should be empty or hold a previous run of the same generator: files that this
run would not write are refused (ConfigError), so a stale pool is never mixed in.
"""

from __future__ import annotations

import csv
import io
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from radtune.errors import ConfigError
from radtune.io import write_bytes_atomic
from radtune.synth import dicom_writer as dw
from radtune.variants.pedirad_8k import anatomy as an
from radtune.variants.pedirad_8k.labels import FRACTURE_TYPES, LOCATIONS, FileLabels, format_filename

PHI_TAGS: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "PatientBirthDate",
    "AccessionNumber",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "StudyTime",
    "StudyID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
)
"""Keywords of the fake PHI fields (labels PatientSex and PatientAge excluded)."""

LABELS_CSV = "labels.csv"
TROUBLE_KINDS = ("truncated", "no_pixel_data", "underexposed", "not_dicom")

FRACTURE_WEIGHTS = {"buckle": 0.40, "greenstick": 0.23, "transverse": 0.15, "salter_harris_ii": 0.12, "oblique": 0.10}
LOCATION_WEIGHTS = {"distal_radius": 0.66, "distal_ulna": 0.10, "radial_shaft": 0.14, "ulnar_shaft": 0.10}
if tuple(FRACTURE_WEIGHTS) != FRACTURE_TYPES or tuple(LOCATION_WEIGHTS) != LOCATIONS:
    raise ImportError("synth: FRACTURE_WEIGHTS / LOCATION_WEIGHTS must list labels.FRACTURE_TYPES / LOCATIONS in order")

SURNAMES = (
    "HERNANDEZ",
    "OKONKWO",
    "LINDQVIST",
    "MORIARTY",
    "KOWALCZYK",
    "NAKAMURA",
    "FITZGERALD",
    "ABERNATHY",
    "DELACROIX",
    "VASQUEZ",
    "THORNBURY",
    "MACALLISTER",
    "PETROVSKA",
    "GUNNARSSON",
    "ACHTERBERG",
    "BALASUBRAMANIAN",
    "WHITTAKER",
    "ONYEKACHI",
    "CASTELLANOS",
    "HAVERFORD",
    "KRISHNAMURTHY",
    "LEFEBVRE",
    "SZYMANSKI",
    "ABERCROMBIE",
    "YAMAGUCHI",
    "ODUYA",
    "RASMUSSEN",
    "DUBROVNIK",
    "CALLAGHAN",
    "ESPINOZA",
    "HALLORAN",
    "MBEKI",
)
GIVEN = {
    "F": (
        "SOFIA",
        "AMELIA",
        "ISABELLA",
        "CHARLOTTE",
        "ZAINAB",
        "MATILDA",
        "NAOMI",
        "AURORA",
        "BEATRIX",
        "CLEMENTINE",
        "FREYA",
        "IMOGEN",
        "LUCIANA",
        "MARISOL",
        "PENELOPE",
        "ROSALIND",
        "TALLULAH",
        "WILHELMINA",
    ),
    "M": (
        "MATTEO",
        "OLIVER",
        "SEBASTIAN",
        "TOBIAS",
        "IFEANYI",
        "LEOPOLD",
        "AUGUSTIN",
        "BARNABY",
        "CASPIAN",
        "DESMOND",
        "EZEKIEL",
        "FREDERIK",
        "GULLIVER",
        "HORATIO",
        "LORENZO",
        "MAXIMILIAN",
        "RODERICK",
        "THADDEUS",
    ),
}
INSTITUTIONS = (
    ("St. Brigid Children's Hospital", "1420 Maple Ridge Avenue^Springfield^IL^62704"),
    ("Lakeshore Pediatric Medical Center", "77 Harbourview Drive^Duluth^MN^55802"),
    ("Cedar Valley Children's Clinic", "3051 Orchard Lane^Fresno^CA^93720"),
    ("Mercy Hills Regional Hospital", "908 Summit Crest Road^Asheville^NC^28801"),
    ("Northbrook Kids Imaging Institute", "215 Willowmere Street^Burlington^VT^05401"),
    ("Riverside Pediatric Orthopaedics", "64 Kingfisher Parkway^Boise^ID^83702"),
)
REFERRERS = (
    "OKAFOR^CHIDI^^^DR",
    "BRENNAN^MARGARET^^^DR",
    "TANAKA^HIROSHI^^^DR",
    "ALVARADO^ROSALIA^^^DR",
    "FENWICK^ARCHIBALD^^^DR",
    "SUNDQVIST^INGRID^^^DR",
    "MWANGI^WANJIRU^^^DR",
    "DESROSIERS^LUC^^^DR",
)
DEVICES = {
    "DX": (
        ("Carestream Health", "DRX-Evolution Plus"),
        ("Philips Medical Systems", "DigitalDiagnost C90"),
        ("AGFA", "DX-D 600"),
    ),
    "CR": (
        ("FUJIFILM Corporation", "FCR PROFECT CS"),
        ("Konica Minolta", "REGIUS 190"),
        ("Carestream Health", "CR 975"),
    ),
}
TRAUMA_CONTEXT = (
    "Fell on outstretched hand at playground; wrist pain and swelling",
    "Fall from monkey bars, pain in the distal forearm",
    "Twisting injury, tender distal forearm",
    "Fell off bicycle, reluctant to use the arm",
    "Trampoline injury, wrist tenderness",
    "Fall from bed, cries when the arm is moved",
    "Football injury, wrist pain on movement",
    "Fell while running, pain and mild deformity reported by parent",
)
OTHER_CONTEXT = (
    "Follow-up, no new trauma",
    "Minor fall, full range of motion, mild discomfort",
    "Bone age assessment, short stature",
    "Wrist pain for two weeks, no known injury",
    "Swelling of the hand, query foreign body",
    "Pulled by the hand, reduced use of the arm",
)
VIEW_NAMES = {"PA": "PA", "LAT": "LATERAL", "OBL": "OBLIQUE"}
VIEW_POSITION = {"PA": "PA", "LAT": "LL", "OBL": "OBL"}
MAX_STORED = 4095


# ----------------------------------------------------------------------------- sampling


@dataclass(frozen=True)
class Patient:
    """One patient = one study: labels, acquisition settings and the fake header."""

    index: int
    labels: FileLabels
    bone_age: int
    context: str
    views: tuple[str, ...]
    body_part: str
    side: str
    severity: tuple[float, float, float]
    modality: str
    photometric: str
    slope: float
    intercept: int
    voi: str  # window | window2 | lut16 | lut8 | linlut | none
    header: tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class ImageSpec:
    """One output file."""

    index: int
    name: str
    kind: str  # ok | truncated | no_pixel_data | underexposed | not_dicom
    syntax: str  # explicit | rle | j2k
    view: str
    instance: int
    rows: int
    cols: int
    patient: Patient


def _choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys])
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def sample_labels(rng: np.random.Generator) -> tuple[FileLabels, int]:
    """(file labels, Greulich-Pyle bone age in months) of one patient."""
    age = int(np.clip(np.rint(rng.gamma(2.3, 50.0 / 2.3)), 2, 144))
    sex = "M" if rng.random() < 0.52 else "F"
    bone_age = int(max(0, np.rint(age + rng.normal(0.0, 8.0))))
    if rng.random() >= 0.55:
        return FileLabels(age, sex, False, "none", "none"), bone_age
    ftype = _choice(rng, FRACTURE_WEIGHTS)
    if ftype == "salter_harris_ii" and min(age, bone_age) < 24:
        ftype = "buckle"  # no ossified distal radial epiphysis to slip yet
    if ftype == "salter_harris_ii":
        loc = "distal_ulna" if bone_age >= 90 and rng.random() < 0.15 else "distal_radius"
    elif ftype == "buckle":
        loc = _choice(rng, {"distal_radius": 0.8, "distal_ulna": 0.1, "radial_shaft": 0.1})
    else:
        loc = _choice(rng, LOCATION_WEIGHTS)
    return FileLabels(age, sex, True, ftype, loc), bone_age


def _date(y: int, m: int, d: int) -> str:
    return f"{y:04d}{m:02d}{d:02d}"


def sample_header(rng: np.random.Generator, seed: int, index: int, labels: FileLabels) -> dict[str, object]:
    """Fake but realistic, distinctive PHI and study attributes (one study per patient)."""
    sy, sm, sd = int(rng.integers(2015, 2024)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    months = sy * 12 + (sm - 1) - labels.age_months
    birth = _date(months // 12, months % 12 + 1, int(rng.integers(1, sd + 1)))
    hh, mm, ss = int(rng.integers(7, 22)), int(rng.integers(0, 50)), int(rng.integers(0, 60))
    inst_name, inst_addr = INSTITUTIONS[int(rng.integers(len(INSTITUTIONS)))]
    surname = SURNAMES[int(rng.integers(len(SURNAMES)))]
    given = GIVEN[labels.sex][int(rng.integers(len(GIVEN[labels.sex])))]
    middle = "ABCDEFGHJKLMNPRSTW"[int(rng.integers(18))]
    study_date = _date(sy, sm, sd)
    h: dict[str, object] = {
        "PatientName": f"{surname}^{given}^{middle}",
        "PatientID": f"MRN{int(rng.integers(1_000_000, 10_000_000))}",
        "PatientBirthDate": birth,
        "PatientSex": labels.sex,
        "PatientAge": f"{labels.age_months:03d}M",
        "AccessionNumber": f"ACC{int(rng.integers(10_000_000, 100_000_000))}",
        "InstitutionName": inst_name,
        "InstitutionAddress": inst_addr,
        "ReferringPhysicianName": REFERRERS[int(rng.integers(len(REFERRERS)))],
        "StudyDate": study_date,
        "SeriesDate": study_date,
        "AcquisitionDate": study_date,
        "ContentDate": study_date,
        "StudyTime": f"{hh:02d}{mm:02d}{ss:02d}",
        "StudyID": f"ST{int(rng.integers(100_000, 1_000_000))}",
        "StudyInstanceUID": dw.uid(seed, "study", index),
        "SeriesInstanceUID": dw.uid(seed, "series", index),
    }
    if rng.random() < 0.4:
        h["OtherPatientIDs"] = f"HX{int(rng.integers(10_000_000, 100_000_000))}"
    return h


def sample_patient(rng: np.random.Generator, seed: int, index: int) -> Patient:
    """Labels, views, device settings and header of patient ``index``."""
    labels, bone_age = sample_labels(rng)
    trauma = rng.random() < (0.85 if labels.fracture else 0.55)
    pool = TRAUMA_CONTEXT if trauma else OTHER_CONTEXT
    context = pool[int(rng.integers(len(pool)))]
    k = int(rng.choice(3, p=[0.3, 0.5, 0.2])) + 1
    views = ("PA", "LAT", "OBL")[:k] if rng.random() < 0.7 else ("PA", "OBL", "LAT")[:k]
    if labels.location.endswith("shaft"):
        body_part = "FOREARM"
    else:
        body_part = _choice(rng, {"WRIST": 0.5, "HAND": 0.3, "FOREARM": 0.2})
    modality = "DX" if rng.random() < 0.6 else "CR"
    voi = _choice(rng, {"window": 0.33, "window2": 0.17, "lut16": 0.1, "lut8": 0.05, "linlut": 0.05, "none": 0.3})
    header = sample_header(rng, seed, index, labels)
    maker, model = DEVICES[modality][int(rng.integers(len(DEVICES[modality])))]
    header.update(Manufacturer=maker, ManufacturerModelName=model, KVP=str(int(rng.integers(44, 58))))
    return Patient(
        index=index,
        labels=labels,
        bone_age=bone_age,
        context=context,
        views=views,
        body_part=body_part,
        side="L" if rng.random() < 0.55 else "R",
        severity=(float(rng.random()), float(rng.random()), float(rng.random())),
        modality=modality,
        photometric="MONOCHROME1" if rng.random() < 0.3 else "MONOCHROME2",
        slope=float((1.0, 1.0, 1.0, 1.0, 0.5, 2.0, 1.25)[int(rng.integers(7))]),
        intercept=int((0, 0, 0, -10, -32, -64, -100)[int(rng.integers(7))]),
        voi=voi,
        header=tuple(sorted(header.items())),
    )


def plan(n: int, seed: int) -> list[ImageSpec]:
    """The files of one run, in order: patients' views, trouble kinds, transfer syntaxes."""
    rng = np.random.default_rng([seed, 0])
    patients, count = [], 0
    while count < n:
        p = sample_patient(rng, seed, len(patients))
        patients.append(p)
        count += len(p.views)
    pairs = [(p, v, i + 1) for p in patients for i, v in enumerate(p.views)][:n]
    kinds = ["ok"] * n
    if n >= 10:
        per = max(1, n // 600)
        trouble = ["truncated"] * per + ["no_pixel_data"] * per + ["underexposed"] * 2 * per + ["not_dicom"] * per
        for k, i in zip(trouble, rng.permutation(n)[: len(trouble)]):
            kinds[int(i)] = k
    specs = []
    for i, (p, view, inst) in enumerate(pairs):
        r = rng.random()
        syntax = "rle" if r < 0.15 else "j2k" if r < 0.25 else "explicit"
        rows = int(rng.integers(900, 1301))
        cols = min(int(rng.integers(700, 1001)), 1_000_000 // rows)
        if kinds[i] != "ok":
            syntax = "explicit"
        specs.append(ImageSpec(i, format_filename(p.labels, suffix=i), kinds[i], syntax, view, inst, rows, cols, p))
    return specs


# ----------------------------------------------------------------------------- pixels


def fracture_for(p: Patient, view: an.View) -> an.Fracture | None:
    """The patient's fracture as geometry for this view (same severity in every view)."""
    lab = p.labels
    if not lab.fracture:
        return None
    b = an.forearm_bones(p.bone_age, view)["radius" if "radi" in lab.location else "ulna"]
    s0, s1, s2 = p.severity
    sgn = 1.0 if s2 < 0.5 else -1.0
    s2 = 2 * s2 if s2 < 0.5 else 2 * s2 - 1
    shaft = lab.location.endswith("shaft")
    t = 0.52 + 0.1 * s0 if shaft else 1 - (0.075 + 0.045 * s0) / b.length
    hw = float(b.halfwidth(t))
    d, nrm = b.axis()
    end = tuple(float(x) for x in b.point(1.0))
    site = tuple(float(x) for x in b.point(t))
    kind = lab.fracture_type
    if kind == "buckle":
        return an.Fracture(kind, b.name, t, an.Rigid(), bulge=1.0 + 0.4 * s1)
    if kind == "greenstick":
        hinge = tuple(float(x) for x in b.point(t, -sgn))
        ang = (0.09 + 0.04 * s1) if shaft else (0.14 + 0.06 * s1)
        cands = [an.Rigid(hinge, a) for a in (ang, -ang)]
        tip = b.point(t, sgn)[None, :]
        proj = [float(((c.apply(tip) - tip) * d).sum()) for c in cands]
        return an.Fracture(kind, b.name, t, cands[int(np.argmax(proj))], gap=0.004)
    if kind == "salter_harris_ii":
        h = 0.085 / b.length
        shift = -nrm * sgn * hw * (0.45 + 0.35 * s2) + d * 0.018
        move = an.Rigid(end, sgn * (0.06 + 0.05 * s1), (float(shift[0]), float(shift[1])))
        return an.Fracture(kind, b.name, 1 - h, move, gap=0.016, slant=sgn * h)
    pivot = end if shaft else site
    ang = sgn * ((0.035 + 0.03 * s1) if shaft else (0.08 + 0.06 * s1))
    if kind == "transverse":
        shift = nrm * sgn * hw * (0.7 + 0.6 * s2)
        return an.Fracture(
            kind, b.name, t, an.Rigid(pivot, ang, (float(shift[0]), float(shift[1]))), gap=0.04 + 0.015 * s1
        )
    shift = nrm * sgn * hw * (0.6 + 0.5 * s2) - d * 0.03
    slant = sgn * 1.2 * hw / b.length
    return an.Fracture(
        "oblique", b.name, t, an.Rigid(pivot, ang, (float(shift[0]), float(shift[1]))), gap=0.032, slant=slant
    )


def layout(p: Patient, spec: ImageSpec, rng: np.random.Generator) -> an.Frame:
    """Where the hand lies in the image: scale grows with age, wrist height by body part."""
    rows, cols = spec.rows, spec.cols
    frac_len = 0.40 + 0.25 * min(p.labels.age_months, 144) / 144
    if p.body_part == "FOREARM":
        frac_len *= 0.82
    scale = rows * frac_len * (0.95 + 0.1 * float(rng.random()))
    scale = min(scale, cols * 1.25)
    jitter = float(rng.random())
    if p.body_part == "HAND":
        wrist = rows * (0.04 + 0.04 * jitter) + 1.04 * scale
    elif p.body_part == "WRIST":
        wrist = rows * (0.52 + 0.08 * jitter)
    else:
        wrist = rows * (0.36 + 0.08 * jitter)
    lowest = -0.95 if p.labels.location.endswith("shaft") else -0.3  # hand units to keep in view
    wrist = min(wrist, rows * 0.93 + lowest * scale, rows * 0.8)
    cx = cols * (0.5 + 0.08 * (float(rng.random()) - 0.5))
    return an.Frame(cx, wrist, scale, 1 if p.side == "R" else -1)


def _marker(img: np.ndarray, letter: str, x: int, y: int, size: int, value: int) -> None:
    """A lead side marker ("L" or "R") drawn as strokes."""
    th = max(2, size // 6)
    s = size
    strokes = {
        "L": [[(0, 0), (0, s), (s * 2 // 3, s)]],
        "R": [
            [
                (0, s),
                (0, 0),
                (s // 2, 0),
                (s * 2 // 3, s // 8),
                (s * 2 // 3, s * 3 // 8),
                (s // 2, s // 2),
                (0, s // 2),
            ],
            [(s // 4, s // 2), (s * 2 // 3, s)],
        ],
    }[letter]
    for line in strokes:
        pts = np.array([(x + a, y + b) for a, b in line], dtype=np.int32)
        cv2.polylines(img, [pts], False, value, th, cv2.LINE_8)


def _noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Integer approximately-normal noise with sd 256 (sum of three uniform bytes)."""
    u = rng.integers(0, 256, size=(3, *shape), dtype=np.uint8).astype(np.int32)
    return 2 * (u[0] + u[1] + u[2]) - 765


def render_presentation(spec: ImageSpec, seed: int) -> tuple[np.ndarray, dict[str, int]]:
    """Display-domain image P (uint16, 0..4095, bone bright) and its reference levels."""
    p = spec.patient
    rng = np.random.default_rng([seed, 1, spec.index])
    view = an.VIEWS[spec.view]
    frac = fracture_for(p, view)
    frame = layout(p, spec, rng)
    soft, bones = an.scene(p.bone_age, view, frac, chubby=1.12 - 0.12 * an.maturity(p.bone_age))
    tilt = an.Rigid((0.0, 0.0), 0.04 * (float(rng.random()) - 0.5))
    shape = (spec.rows, spec.cols)
    soft_att = an.rasterize([an.Shape(tilt.apply(s.pts), s.value) for s in soft], frame, shape)
    att = an.rasterize([an.Shape(tilt.apply(s.pts), s.value) for s in bones], frame, shape)
    soft_att = an.box_blur(an.box_blur(soft_att, spec.rows // 150), spec.rows // 150)
    radius = 1 + spec.rows // 900
    att = an.box_blur(an.box_blur(att + soft_att, radius), radius)
    air = int(rng.integers(150, 360))
    gain = int(rng.integers(860, 1100))  # /1024
    heel = int(rng.integers(-140, 141))
    ramp = (np.arange(spec.rows, dtype=np.int32) * (2 * heel) // spec.rows - heel)[:, None]
    img = air + att * gain // 1024 + ramp
    coll = int(rng.integers(3300, 3800))
    m = [int(rng.integers(0, spec.rows // 14)) for _ in range(2)] + [
        int(rng.integers(0, spec.cols // 14)) for _ in range(2)
    ]
    field = np.zeros((spec.rows, spec.cols), dtype=bool)
    field[m[0] : spec.rows - m[1], m[2] : spec.cols - m[3]] = True
    img[~field] = coll
    size = spec.rows // 22
    mx = m[2] + spec.cols // 20 if rng.random() < 0.5 else spec.cols - m[3] - spec.cols // 20 - size
    _marker(img, p.side, mx, m[0] + spec.rows // 25, size, coll - 250)
    levels = {"air": air, "soft": air + len(an.LAYERS) * an.SOFT * gain // 1024, "coll": coll}
    sub = np.sort(img[field][::7])
    levels["p_hi"] = int(sub[int(len(sub) * 0.995)])
    img = img + _noise(rng, img.shape) * (5 + img // 300) // 256
    return np.clip(img, 0, MAX_STORED).astype(np.uint16), levels


def underexpose(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Squeeze the image into a narrow low band (p99-p1 well under 8% of 4096) plus noise."""
    lo, span = int(rng.integers(40, 120)), int(rng.integers(150, 200))
    base = img.astype(np.int32)
    pmin, pmax = int(base.min()), int(base.max())
    out = lo + (base - pmin) * span // max(pmax - pmin, 1)
    out = out + _noise(rng, img.shape) * int(rng.integers(9, 14)) // 256
    return np.clip(out, 0, MAX_STORED).astype(np.uint16)


def to_stored(img: np.ndarray, photometric: str, underexposed: bool) -> np.ndarray:
    """Stored values: MONOCHROME1 inverts (high = dark), within the used band if underexposed."""
    if photometric == "MONOCHROME2":
        return img
    top = int(img.max()) + int(img.min()) if underexposed else MAX_STORED
    return (top - img.astype(np.int32)).astype(np.uint16)


# ----------------------------------------------------------------------------- VOI


def _o(p_value: int, patient: Patient) -> float:
    """Modality-LUT output of the stored value that displays as ``p_value``."""
    s = p_value if patient.photometric == "MONOCHROME2" else MAX_STORED - p_value
    return s * patient.slope + patient.intercept


def _span(lo_p: int, hi_p: int, patient: Patient) -> tuple[float, float]:
    a, b = _o(lo_p, patient), _o(hi_p, patient)
    return min(a, b), max(a, b)


def bone_window(levels: dict[str, int], patient: Patient) -> tuple[float, float]:
    """(center, width) in modality units that shows soft tissue grey and bone bright."""
    lo_p = levels["air"] + (levels["soft"] - levels["air"]) // 10
    lo, hi = _span(lo_p, levels["p_hi"], patient)
    return float(int((lo + hi) / 2)), float(int(hi - lo))


def soft_window(levels: dict[str, int], patient: Patient) -> tuple[float, float]:
    lo, hi = _span(levels["air"], levels["soft"] + (levels["soft"] - levels["air"]) // 3, patient)
    return float(int((lo + hi) / 2)), float(int(hi - lo))


def voi_lut(levels: dict[str, int], patient: Patient) -> dw.VoiLut:
    """A monotone VOI LUT over the bone window: sigmoid-like (or linear), 16 or 8 bit."""
    c, w = bone_window(levels, patient)
    first = max(0, int(c - 0.75 * w))
    last = int(c + 0.75 * w)
    n = min(last - first + 1, 65535)
    i = np.arange(n, dtype=np.float64)
    if patient.voi == "linlut":
        x0, x1 = c - w / 2 - first, c + w / 2 - first
        y = np.clip((i - x0) / (x1 - x0), 0.0, 1.0)
    else:
        x = (i - (c - first)) / (w / 5)
        y = 0.5 + 0.5 * x / np.sqrt(1 + x * x)
        y = (y - y[0]) / (y[-1] - y[0])
    bits = 8 if patient.voi == "lut8" else 16
    data = np.rint(y * (2**bits - 1)).astype(np.int64)
    kind = "LINEAR" if patient.voi == "linlut" else "SIGMOID"
    return dw.VoiLut(first, bits, tuple(int(v) for v in data), f"BONE {kind} LUT")


# ----------------------------------------------------------------------------- files


def build_dataset(spec: ImageSpec, seed: int) -> tuple[object, np.ndarray | None, dict[str, int] | None]:
    """Header (and pixels) of one DICOM file, before encoding."""
    p = spec.patient
    header = dict(p.header)
    view_name = VIEW_NAMES[spec.view]
    header.update(
        SeriesNumber=1,
        InstanceNumber=spec.instance,
        BodyPartExamined=p.body_part,
        ViewPosition=VIEW_POSITION[spec.view],
        ImageLaterality=p.side,
        StudyDescription=f"XR {p.body_part} {'LEFT' if p.side == 'L' else 'RIGHT'} 2+ VIEWS",
        SeriesDescription=f"{p.body_part} {view_name}",
        ImageType=["ORIGINAL", "PRIMARY"],
        PatientOrientation=["A", "F"],
        BurnedInAnnotation="NO",
        RescaleSlope=dw.ds_str(p.slope),
        RescaleIntercept=dw.ds_str(p.intercept),
        RescaleType="US",
    )
    spacing = dw.ds_str(0.1 + 0.001 * (spec.index * 7 % 60))
    if p.modality == "DX":
        header.update(
            PresentationIntentType="FOR PRESENTATION",
            PixelIntensityRelationship="LOG",
            PixelIntensityRelationshipSign=-1 if p.photometric == "MONOCHROME2" else 1,
            ImagerPixelSpacing=[spacing, spacing],
        )
    else:
        header.update(PixelSpacing=[spacing, spacing])
    ds = dw.base_dataset(header, p.modality, dw.uid(seed, "image", spec.index))
    if spec.kind == "no_pixel_data":
        return ds, None, None
    img, levels = render_presentation(spec, seed)
    if spec.kind == "underexposed":
        img = underexpose(img, np.random.default_rng([seed, 2, spec.index]))
    stored = to_stored(img, p.photometric, spec.kind == "underexposed")
    dw.set_pixels(ds, stored, p.photometric)
    if spec.kind != "underexposed":
        _set_voi(ds, levels, p)
    return ds, stored, levels


def _set_voi(ds: object, levels: dict[str, int], p: Patient) -> None:
    if p.voi == "window":
        c, w = bone_window(levels, p)
        dw.set_window(ds, [c], [w], ["BONE"])
    elif p.voi == "window2":
        (c1, w1), (c2, w2) = bone_window(levels, p), soft_window(levels, p)
        dw.set_window(ds, [c1, c2], [w1, w2], ["BONE", "SOFT TISSUE"])
    elif p.voi in ("lut16", "lut8", "linlut"):
        dw.set_voi_lut(ds, voi_lut(levels, p))


NOT_DICOM_TEXT = (
    "PACS EXPORT ERROR\r\n"
    "The requested object could not be retrieved from the archive (status 0xA702: out of resources).\r\n"
    "No image data was written to this file.\r\n"
)


def file_bytes(spec: ImageSpec, seed: int) -> bytes:
    """The bytes of one output file."""
    if spec.kind == "not_dicom":
        return NOT_DICOM_TEXT.encode("ascii")
    ds, _, _ = build_dataset(spec, seed)
    data = dw.encode(ds, spec.syntax)
    return dw.truncated(data) if spec.kind == "truncated" else data


def _write_one(args: tuple[ImageSpec, int, str]) -> tuple[str, int]:
    spec, seed, out_dir = args
    data = file_bytes(spec, seed)
    write_bytes_atomic(Path(out_dir) / spec.name, data)
    return spec.name, len(data)


def labels_csv(specs: list[ImageSpec]) -> str:
    """filename,bone_age_months,clinical_context (sorted by file name)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["filename", "bone_age_months", "clinical_context"])
    for s in sorted(specs, key=lambda s: s.name):
        w.writerow([s.name, s.patient.bone_age, s.patient.context])
    return buf.getvalue()


def _check_out_dir(out_dir: Path, names: set[str]) -> None:
    if not out_dir.exists():
        return
    stale = sorted(f.name for f in out_dir.iterdir() if f.name not in names)
    if stale:
        raise ConfigError(
            f"synth pedirad: {out_dir} holds {len(stale)} file(s) this run would not write "
            f"(e.g. {stale[0]!r}); use an empty folder or delete it first"
        )


def summary(specs: list[ImageSpec], sizes: dict[str, int]) -> dict:
    """Counts by kind, transfer syntax, photometric, VOI, label; the trouble files' names."""

    def count(key) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in specs:
            k = key(s)
            out[k] = out.get(k, 0) + 1
        return dict(sorted(out.items()))

    ok = [s for s in specs if s.kind == "ok"]
    return {
        "files": len(specs),
        "patients": len({s.patient.index for s in specs}),
        "bytes": sum(sizes.values()),
        "kinds": count(lambda s: s.kind),
        "trouble": {k: sorted(s.name for s in specs if s.kind == k) for k in TROUBLE_KINDS},
        "transfer_syntax": count(lambda s: s.syntax),
        "modality": count(lambda s: s.patient.modality),
        "photometric": count(lambda s: s.patient.photometric),
        "voi": dict(
            sorted(
                {
                    k: sum(1 for s in ok if s.patient.voi == k)
                    for k in ("window", "window2", "lut16", "lut8", "linlut", "none")
                }.items()
            )
        ),
        "fracture_type": count(lambda s: s.patient.labels.fracture_type),
        "location": count(lambda s: s.patient.labels.location),
        "views": count(lambda s: s.view),
        "labels_csv": LABELS_CSV,
    }


def generate(out_dir: Path, *, n: int, seed: int, workers: int | None = None) -> dict:
    """Write ``n`` files + labels.csv into ``out_dir``; return a JSON-able summary."""
    if n < 1:
        raise ConfigError(f"synth pedirad: n must be >= 1 (got {n})")
    out_dir = Path(out_dir)
    specs = plan(n, seed)
    _check_out_dir(out_dir, {s.name for s in specs} | {LABELS_CSV})
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(s, seed, str(out_dir)) for s in specs]
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    if workers > 1 and n >= 16:
        with ProcessPoolExecutor(max_workers=workers) as ex:
            sizes = dict(ex.map(_write_one, jobs, chunksize=4))
    else:
        sizes = dict(map(_write_one, jobs))
    write_bytes_atomic(out_dir / LABELS_CSV, labels_csv(specs).encode("utf-8"))
    return summary(specs, sizes)
