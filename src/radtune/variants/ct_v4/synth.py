"""Synthetic head-CT hemorrhage inputs for the ct_v4 variant (seed 002), deterministic.

``generate(out_dir, n=..., seed=...)`` writes, byte for byte the same for the same (n, seed):

  v3/_annotations.coco.json        4 classes (IPH, IVH, SAH, SDH; category ids 0..3)
  v3/images/ID_<hex>.dcm
  roboflow/_annotations.coco.json  8 categories: the 6 targets under other names/casing
                                   ("epidural", "Intraparenchymal ", ...) + 2 noise ones
                                   ("hemorrhage-types" super-category, "calcification");
                                   some boxes out of bounds (one entirely outside), an
                                   annotation whose image id does not exist, an image whose
                                   file is missing; image/annotation ids collide with v3
  roboflow/images/<x>_dcm.rf.<hex>.dcm
  bucket/studies/<study>/<n>.dcm   the no-hemorrhage pool to seed the S3 bucket with (one
                                   truncated object, one that is not DICOM, some slices with
                                   a thickness outside 5.0/5.5 mm)
  metadata/no_hemorrhage_feedback.csv   s3_key,feedback (FP = false positive, high
                                   priority; TN = true negative)

``n`` is the number of annotated slices (v3 + roboflow); the bucket holds about n/2 objects.
One patient (same PatientID) has a study in v3 and another in roboflow, under different
image ids and file names, and one no-hemorrhage slice in the bucket.

Images are 256 x 256 axial head-CT slices, CT Image Storage, stored uint16 (12 bits) with
RescaleIntercept -1024 / RescaleSlope 1 so the modality LUT gives Hounsfield units: air
-1000, scalp ~20, skull ~1100-1400, grey/white matter ~38/28, CSF in the ventricles ~5,
acute blood 55-85 HU. Hemorrhages are drawn with class-typical shapes and places and their
COCO boxes are the exact bounding boxes of the drawn blood:
EDH lens against the inner table, SDH crescent along it, SAH thin sulcal lines near the
cortex, IPH a blob in the parenchyma, IVH layering in a ventricle, HC small clustered
contusions with oedema in the frontal/temporal cortex.

Determinism: every random draw comes from ``np.random.default_rng([seed, ...ids])``,
shapes are rasterised by OpenCV's integer ellipse routines, noise is integer, DICOM bytes
come from ``radtune.synth.dicom_writer`` (fixed implementation UID, fixed RLE encoder).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from radtune.io import write_bytes_atomic, write_json, write_text_atomic
from radtune.synth import dicom_writer as dw

SIZE = 256
V3_CLASSES = ("IPH", "IVH", "SAH", "SDH")
#: (id, name, supercategory); names differ from the targets in casing/spacing on purpose
ROBOFLOW_CATEGORIES = (
    (0, "hemorrhage-types", "none"),
    (1, "epidural", "hemorrhage-types"),
    (2, "Hemorrhagic Contusion", "hemorrhage-types"),
    (3, "Intraparenchymal ", "hemorrhage-types"),
    (4, "intraventricular", "hemorrhage-types"),
    (5, "Subarachnoid", "hemorrhage-types"),
    (6, "subdural", "hemorrhage-types"),
    (7, "calcification", "hemorrhage-types"),
)
ROBOFLOW_ID = {"EDH": 1, "HC": 2, "IPH": 3, "IVH": 4, "SAH": 5, "SDH": 6, "CALC": 7}
#: class weights when drawing a patient's hemorrhage types
TYPE_WEIGHTS = {"IPH": 0.26, "SAH": 0.22, "SDH": 0.20, "IVH": 0.12, "EDH": 0.10, "HC": 0.10}
THICKNESS = ((5.0, 0.45), (5.5, 0.35), (2.5, 0.08), (1.0, 0.06), (3.0, 0.06))
POOL_THICKNESS = ((5.0, 0.5), (5.5, 0.43), (2.5, 0.03), (1.0, 0.02), (3.0, 0.02))
P_VISIBLE = 0.62  # a patient's hemorrhage type shows on a given slice
FP_FRACTION = 0.08  # bucket objects flagged FP in the metadata CSV
POOL_PER_SLICE = 0.5  # bucket objects per annotated slice

LAST = (
    "SMITH",
    "GARCIA",
    "MUELLER",
    "ROSSI",
    "NGUYEN",
    "KOWALSKI",
    "OKAFOR",
    "SILVA",
    "TANAKA",
    "DUBOIS",
    "JOHANSSON",
    "PATEL",
    "MURPHY",
    "HOLM",
    "NOVAK",
    "COSTA",
)
FIRST = (
    "ANNA",
    "JOHN",
    "MARIA",
    "LUCA",
    "EMMA",
    "OMAR",
    "SOFIA",
    "PIET",
    "MEI",
    "JONAS",
    "AMARA",
    "IVAN",
    "LENA",
    "RAVI",
    "CLARA",
    "TOM",
)
INSTITUTIONS = ("ST ELSEWHERE GENERAL HOSPITAL", "COUNTY TRAUMA CENTER", "NORTHSIDE MEDICAL CENTRE")

HU_AIR, HU_SCALP, HU_BONE, HU_GREY, HU_WHITE, HU_CSF = -1000, 20, 1150, 38, 28, 5


# --------------------------------------------------------------------------- random helpers
def rng_for(seed: int, *parts: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *map(int, parts)])


def hexid(*parts: object, n: int = 10) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:n]


def choice_weighted(rng: np.random.Generator, items: tuple[tuple[float, float], ...]) -> float:
    values = [v for v, _ in items]
    p = np.array([w for _, w in items], dtype=np.float64)
    return float(values[int(rng.choice(len(values), p=p / p.sum()))])


# --------------------------------------------------------------------------- anatomy
@dataclass(frozen=True)
class Head:
    """Axial head section: outer skull semi-axes (a, b), skull thickness t, ventricle scale."""

    cx: int
    cy: int
    a: int
    b: int
    t: int
    vent: float

    @property
    def inner(self) -> tuple[int, int]:
        return self.a - self.t, self.b - self.t


def ellipse_mask(
    center: tuple[int, int],
    axes: tuple[int, int],
    angle: float = 0.0,
    start: int = 0,
    end: int = 360,
    thickness: int = -1,
) -> np.ndarray:
    m = np.zeros((SIZE, SIZE), np.uint8)
    cv2.ellipse(
        m,
        (int(center[0]), int(center[1])),
        (max(1, int(axes[0])), max(1, int(axes[1]))),
        float(angle),
        int(start),
        int(end),
        1,
        int(thickness),
    )
    return m.astype(bool)


def brain_mask(h: Head) -> np.ndarray:
    return ellipse_mask((h.cx, h.cy), h.inner)


def ventricle_masks(h: Head) -> tuple[np.ndarray, np.ndarray]:
    """Left and right lateral ventricles (image left = patient right)."""
    ax = (max(2, round(6 * h.vent)), max(4, round(18 * h.vent)))
    left = ellipse_mask((h.cx - 10, h.cy - 4), ax, -8)
    right = ellipse_mask((h.cx + 10, h.cy - 4), ax, 8)
    return left, right


def anatomy(h: Head, rng: np.random.Generator) -> np.ndarray:
    """Hounsfield units (int32) of a normal axial head slice."""
    hu = np.full((SIZE, SIZE), HU_AIR, np.int32)
    hu[ellipse_mask((h.cx, h.cy), (h.a + 3, h.b + 3))] = HU_SCALP
    skull = ellipse_mask((h.cx, h.cy), (h.a, h.b))
    hu[skull] = HU_BONE
    hu[skull] += rng.integers(-60, 250, size=int(skull.sum()))
    brain = brain_mask(h)
    hu[brain] = HU_GREY
    ai, bi = h.inner
    hu[ellipse_mask((h.cx, h.cy), (ai - 7, bi - 7))] = HU_WHITE
    left, right = ventricle_masks(h)
    hu[left | right] = HU_CSF
    noise = rng.integers(-3, 4, size=(SIZE // 2, SIZE // 2)).repeat(2, 0).repeat(2, 1)
    hu[brain] += noise[brain]
    return hu


# --------------------------------------------------------------------------- lesions
def table_point(h: Head, theta: float, inset: float) -> tuple[int, int]:
    """A point `inset` px inside the inner table at angle theta (degrees; -90 = anterior)."""
    ai, bi = h.inner
    c, s = np.cos(np.deg2rad(theta)), np.sin(np.deg2rad(theta))
    return round(h.cx + (ai - inset) * c), round(h.cy + (bi - inset) * s)


def draw_edh(h: Head, p: dict, k: float) -> np.ndarray:
    """Biconvex lens against the inner table."""
    half = max(3, round(p["h"] * k))
    c = table_point(h, p["theta"], half)
    return ellipse_mask(c, (max(6, round(p["L"] * k)), half), p["theta"] + 90) & brain_mask(h)


def draw_sdh(h: Head, p: dict, k: float) -> np.ndarray:
    """Crescent along the inner table: thickest in the middle, tapering at the ends."""
    ai, bi = h.inner
    m = np.zeros((SIZE, SIZE), bool)
    span = p["span"] * k
    for frac, th in ((1.0, 2), (0.75, max(2, round(p["w"] * k * 0.6))), (0.5, max(3, round(p["w"] * k)))):
        half = span * frac / 2
        m |= ellipse_mask(
            (h.cx, h.cy), (ai - th // 2, bi - th // 2), 0, round(p["theta"] - half), round(p["theta"] + half), th
        )
    return m & brain_mask(h)


def draw_sah(h: Head, p: dict, k: float) -> np.ndarray:
    """Thin hyperdense lines in the sulci near the cortex."""
    ai, bi = h.inner
    m = np.zeros((SIZE, SIZE), bool)
    for d, dt, span in p["lines"]:
        m |= ellipse_mask(
            (h.cx, h.cy),
            (ai - d, bi - d),
            0,
            round(p["theta"] + dt - span * k / 2),
            round(p["theta"] + dt + span * k / 2),
            2,
        )
    left, right = ventricle_masks(h)
    return m & brain_mask(h) & ~(left | right)


def draw_iph(h: Head, p: dict, k: float) -> np.ndarray:
    """Round/oval blob in the parenchyma."""
    ai, bi = h.inner
    c, s = np.cos(np.deg2rad(p["phi"])), np.sin(np.deg2rad(p["phi"]))
    center = (round(h.cx + p["f"] * ai * c), round(h.cy + p["f"] * bi * s))
    return ellipse_mask(center, (round(p["r1"] * k), round(p["r2"] * k)), p["angle"]) & brain_mask(h)


def draw_ivh(h: Head, p: dict, k: float) -> np.ndarray:
    """Blood layering in the dependent (posterior) part of one lateral ventricle."""
    vent = ventricle_masks(h)[p["side"]]
    rows = np.nonzero(vent.any(axis=1))[0]
    if rows.size == 0:
        return vent
    cut = rows.max() - max(2, round((rows.max() - rows.min()) * p["depth"] * k))
    out = vent.copy()
    out[: cut + 1] = False
    return out


def draw_hc(h: Head, p: dict, k: float) -> tuple[np.ndarray, np.ndarray]:
    """Clustered small contusions (blood) with surrounding oedema; returns (blood, oedema)."""
    blood = np.zeros((SIZE, SIZE), bool)
    oedema = np.zeros((SIZE, SIZE), bool)
    base = table_point(h, p["theta"], p["inset"])
    for dx, dy, r in p["blobs"]:
        c = (base[0] + dx, base[1] + dy)
        rr = max(2, round(r * k))
        oedema |= ellipse_mask(c, (rr + 3, rr + 3))
        blood |= ellipse_mask(c, (rr, rr))
    brain = brain_mask(h)
    return blood & brain, oedema & brain & ~blood


def lesion_params(cls: str, rng: np.random.Generator) -> dict:
    """Patient-level shape parameters of one hemorrhage type."""
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    hu = int(rng.integers(55, 86))
    if cls == "EDH":
        return {"theta": u(-180, 180), "L": u(14, 22), "h": u(5, 8), "hu": hu}
    if cls == "SDH":
        return {"theta": u(-180, 180), "span": u(60, 110), "w": u(4, 7), "hu": hu}
    if cls == "SAH":
        lines = [(int(rng.integers(5, 14)), u(-25, 25), u(8, 16)) for _ in range(int(rng.integers(2, 5)))]
        return {"theta": u(-180, 180), "lines": lines, "hu": hu}
    if cls == "IPH":
        return {"phi": u(-180, 180), "f": u(0.3, 0.6), "r1": u(6, 13), "r2": u(5, 11), "angle": u(0, 180), "hu": hu}
    if cls == "IVH":
        return {"side": int(rng.integers(0, 2)), "depth": u(0.3, 0.55), "hu": hu}
    if cls == "HC":
        blobs = [(int(rng.integers(-7, 8)), int(rng.integers(-5, 6)), u(3, 5)) for _ in range(int(rng.integers(2, 4)))]
        return {"theta": u(-140, -40), "inset": u(14, 20), "blobs": blobs, "hu": hu}
    raise ValueError(f"unknown hemorrhage class {cls!r}")


def bbox_of(mask: np.ndarray) -> list[int] | None:
    """COCO [x, y, w, h] of a mask (exact pixel extent), or None when empty."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    x0, y0 = int(xs.min()), int(ys.min())
    return [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1]


def render_slice(
    h: Head, lesions: dict[str, dict], k: float, calcified: bool, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[str, list[int]]]]:
    """HU image plus the boxes [(class, bbox)] of what is drawn ('CALC' = pineal calcification)."""
    hu = anatomy(h, rng)
    boxes: list[tuple[str, list[int]]] = []
    if calcified:
        calc = ellipse_mask((h.cx, h.cy + 14), (2, 2))
        hu[calc] = 180 + rng.integers(0, 60)
        boxes.append(("CALC", bbox_of(calc)))  # type: ignore[arg-type]
    for cls in sorted(lesions):
        p = lesions[cls]
        if cls == "HC":
            blood, oedema = draw_hc(h, p, k)
            hu[oedema] = 18
        else:
            blood = {"EDH": draw_edh, "SDH": draw_sdh, "SAH": draw_sah, "IPH": draw_iph, "IVH": draw_ivh}[cls](h, p, k)
        box = bbox_of(blood)
        if box is None:
            continue
        hu[blood] = p["hu"] + rng.integers(-4, 5, size=int(blood.sum()))
        boxes.append((cls, box))
    return hu, boxes


# --------------------------------------------------------------------------- DICOM
@dataclass
class Patient:
    index: int
    pid: str
    name: str
    sex: str
    birth: str
    institution: str
    types: tuple[str, ...]
    head: Head
    lesions: dict[str, dict]
    calcified: bool
    sources: tuple[str, ...] = field(default=())


def make_patient(seed: int, index: int, types: tuple[str, ...]) -> Patient:
    rng = rng_for(seed, 1, index)
    head = Head(
        cx=128 + int(rng.integers(-5, 6)),
        cy=128 + int(rng.integers(-4, 5)),
        a=int(rng.integers(86, 97)),
        b=int(rng.integers(102, 113)),
        t=int(rng.integers(5, 8)),
        vent=float(rng.uniform(0.8, 1.25)),
    )
    lesions = {c: lesion_params(c, rng_for(seed, 2, index, i)) for i, c in enumerate(sorted(types))}
    return Patient(
        index=index,
        pid=f"MRN{int(rng.integers(1_000_000, 9_999_999))}",
        name=f"{LAST[int(rng.integers(len(LAST)))]}^{FIRST[int(rng.integers(len(FIRST)))]}",
        sex="MF"[int(rng.integers(2))],
        birth=f"{int(rng.integers(1935, 2005))}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}",
        institution=INSTITUTIONS[int(rng.integers(len(INSTITUTIONS)))],
        types=types,
        head=head,
        lesions=lesions,
        calcified=bool(rng.random() < 0.25),
    )


def slice_head(h: Head, z: float) -> Head:
    """The section at relative level z (-1..1): smaller towards the vertex and the base."""
    s = 1.0 - 0.12 * z * z
    return Head(h.cx, h.cy, round(h.a * s), round(h.b * s), h.t, h.vent * (1.0 - 0.4 * abs(z)))


def ct_dataset(
    p: Patient,
    study: int,
    series: int,
    inst: int,
    thickness: float,
    hu: np.ndarray,
    seed: int,
    study_date: str,
    two_windows: bool,
) -> Dataset:
    """A CT Image Storage dataset with fake PHI and the HU image stored as HU + 1024."""
    sop = dw.uid("ct_v4", seed, p.index, study, series, inst)
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = dw.IMPLEMENTATION_UID
    meta.ImplementationVersionName = dw.IMPLEMENTATION_VERSION
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study_date
    ds.StudyTime = f"{(7 + study * 5 + p.index) % 24:02d}{(p.index * 7) % 60:02d}00"
    ds.AccessionNumber = f"ACC{int(hexid('acc', seed, p.index, study, n=8), 16) % 10**8:08d}"
    ds.Modality = "CT"
    ds.Manufacturer = "RADTUNE SYNTH"
    ds.InstitutionName = p.institution
    ds.ReferringPhysicianName = "WHO^DOCTOR"
    ds.StudyDescription = "CT HEAD WO CONTRAST"
    ds.SeriesDescription = f"AXIAL {dw.ds_str(thickness)}MM"
    ds.PatientName = p.name
    ds.PatientID = p.pid
    ds.PatientBirthDate = p.birth
    ds.PatientSex = p.sex
    ds.BodyPartExamined = "HEAD"
    ds.SliceThickness = dw.ds_str(thickness)
    ds.KVP = "120"
    ds.StudyInstanceUID = dw.uid("ct_v4 study", seed, p.index, study)
    ds.SeriesInstanceUID = dw.uid("ct_v4 series", seed, p.index, study, series)
    ds.StudyID = str(study + 1)
    ds.SeriesNumber = str(series + 2)
    ds.InstanceNumber = str(inst + 1)
    ds.ImagePositionPatient = ["-115", "-115", dw.ds_str(inst * thickness)]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = ["0.9", "0.9"]
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    stored = np.clip(hu + 1024, 0, 4095).astype(np.uint16)
    dw.set_pixels(ds, stored, "MONOCHROME2")
    if two_windows:
        dw.set_window(ds, [40, 500], [80, 2000], ["BRAIN", "BONE"])
    else:
        dw.set_window(ds, [40], [80], ["BRAIN"])
    return ds


def dicom_bytes(ds: Dataset, rng: np.random.Generator) -> bytes:
    return dw.encode(ds, "rle" if rng.random() < 0.8 else "explicit")


# --------------------------------------------------------------------------- cohort
@dataclass(frozen=True)
class SliceSpec:
    patient: int
    study: int
    series: int
    inst: int
    thickness: float
    z: float
    source: str  # v3 | roboflow | pool


def draw_types(rng: np.random.Generator, allowed: tuple[str, ...]) -> tuple[str, ...]:
    names = [c for c in TYPE_WEIGHTS if c in allowed]
    p = np.array([TYPE_WEIGHTS[c] for c in names])
    k = 1 if rng.random() < 0.6 else 2
    idx = rng.choice(len(names), size=k, replace=False, p=p / p.sum())
    return tuple(sorted(names[int(i)] for i in idx))


def patient_slices(seed: int, index: int, source_of_study, thickness_table) -> list[SliceSpec]:
    rng = rng_for(seed, 3, index)
    out: list[SliceSpec] = []
    for study in range(1 if rng.random() < 0.7 else 2):
        for series in range(1 if rng.random() < 0.6 else 2):
            thickness = choice_weighted(rng, thickness_table)
            k = int(rng.integers(2, 5))
            zc = float(rng.uniform(-0.4, 0.4))
            for inst in range(k):
                z = float(np.clip(zc + (inst - (k - 1) / 2) * 0.12 * thickness / 5, -0.9, 0.9))
                out.append(SliceSpec(index, study, series, inst, thickness, z, source_of_study(study)))
    return out


def cohort(n: int, seed: int) -> tuple[list[Patient], list[SliceSpec]]:
    """Hemorrhage patients and their annotated slices (exactly n), v3 / roboflow assigned."""
    patients: list[Patient] = []
    slices: list[SliceSpec] = []
    i = 0
    while len(slices) < n:
        rng = rng_for(seed, 4, i)
        if i == 0:  # the patient present in both sources
            types, srcs = ("IPH",), ("v3", "roboflow")
        else:
            to_v3 = rng.random() < 0.55
            types = draw_types(rng, V3_CLASSES if to_v3 else tuple(TYPE_WEIGHTS))
            srcs = ("v3",) if to_v3 else ("roboflow",)
        p = make_patient(seed, i, types)
        p.sources = srcs
        if i == 0:
            specs = [SliceSpec(0, st, 0, k, 5.0, (k - 1) * 0.12, srcs[st]) for st in (0, 1) for k in range(3)]
        else:
            specs = patient_slices(seed, i, lambda _st, s=srcs[0]: s, THICKNESS)
        patients.append(p)
        slices.extend(specs[: n - len(slices)])
        i += 1
    return patients, slices


def study_date(seed: int, p: Patient, study: int) -> str:
    rng = rng_for(seed, 5, p.index, study)
    return f"{int(rng.integers(2015, 2025))}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}"


def visible_lesions(p: Patient, s: SliceSpec, seed: int) -> tuple[dict[str, dict], float]:
    rng = rng_for(seed, 6, p.index, s.study, s.series, s.inst)
    shown = {c: p.lesions[c] for c in sorted(p.lesions) if rng.random() < P_VISIBLE}
    return shown, float(rng.uniform(0.7, 1.1))


def slice_image(p: Patient, s: SliceSpec, seed: int, with_lesions: bool) -> tuple[bytes, list[tuple[str, list[int]]]]:
    lesions, k = visible_lesions(p, s, seed) if with_lesions else ({}, 1.0)
    rng = rng_for(seed, 7, p.index, s.study, s.series, s.inst, 1 if s.source == "pool" else 0)
    hu, boxes = render_slice(slice_head(p.head, s.z), lesions, k, p.calcified, rng)
    ds = ct_dataset(
        p,
        s.study,
        s.series,
        s.inst + (100 if s.source == "pool" else 0),
        s.thickness,
        hu,
        seed,
        study_date(seed, p, s.study),
        two_windows=rng.random() < 0.7,
    )
    return dicom_bytes(ds, rng), boxes


# --------------------------------------------------------------------------- COCO sources
def coco_doc(description: str, categories: list[dict], images: list[dict], annotations: list[dict]) -> dict:
    return {
        "info": {"description": description, "version": "1"},
        "licenses": [],
        "categories": categories,
        "images": images,
        "annotations": annotations,
    }


def coco_box(box: list[int]) -> dict:
    return {"bbox": [float(v) for v in box], "area": float(box[2] * box[3]), "iscrowd": 0, "segmentation": []}


def write_sources(out: Path, patients: list[Patient], slices: list[SliceSpec], seed: int) -> dict:
    """v3/ and roboflow/ (images + COCO); returns counts."""
    docs: dict[str, tuple[list[dict], list[dict]]] = {"v3": ([], []), "roboflow": ([], [])}
    for s in slices:
        p = patients[s.patient]
        data, boxes = slice_image(p, s, seed, with_lesions=True)
        images, anns = docs[s.source]
        img_id = len(images)
        if s.source == "v3":
            name = f"ID_{hexid('v3', seed, s)}.dcm"
            for cls, box in boxes:
                if cls in V3_CLASSES:
                    anns.append(
                        {"id": len(anns), "image_id": img_id, "category_id": V3_CLASSES.index(cls), **coco_box(box)}
                    )
        else:
            name = f"{hexid('orig', seed, s, n=8)}_dcm.rf.{hexid('rf', seed, s, n=32)}.dcm"
            for cls, box in boxes:
                anns.append({"id": len(anns), "image_id": img_id, "category_id": ROBOFLOW_ID[cls], **coco_box(box)})
        images.append({"id": img_id, "file_name": name, "width": SIZE, "height": SIZE})
        write_bytes_atomic(out / s.source / "images" / name, data)
    plant_roboflow_defects(out, *docs["roboflow"], seed)
    v3_cats = [{"id": i, "name": c, "supercategory": "hemorrhage"} for i, c in enumerate(V3_CLASSES)]
    rf_cats = [{"id": i, "name": nm, "supercategory": sup} for i, nm, sup in ROBOFLOW_CATEGORIES]
    write_json(out / "v3" / "_annotations.coco.json", coco_doc("v3 filtered 4-class", v3_cats, *docs["v3"]))
    write_json(
        out / "roboflow" / "_annotations.coco.json", coco_doc("UAT CT BRAIN HEMORRHAGE", rf_cats, *docs["roboflow"])
    )
    return {f"{k}_images": len(v[0]) for k, v in docs.items()} | {
        f"{k}_annotations": len(v[1]) for k, v in docs.items()
    }


def plant_roboflow_defects(out: Path, images: list[dict], anns: list[dict], seed: int) -> None:
    """Out-of-bounds boxes (a few partly, one entirely), an annotation whose image id does
    not exist, and an image entry whose file was never exported."""
    rng = rng_for(seed, 8)
    targets = [a for a in anns if a["category_id"] != ROBOFLOW_ID["CALC"]]
    for a in targets[3::29]:  # partly outside: grow past the right/bottom edge or start negative
        x, y, w, h = a["bbox"]
        if rng.random() < 0.5:
            a["bbox"] = [x, y, float(SIZE - x + int(rng.integers(2, 9))), h]
        else:
            a["bbox"] = [float(-int(rng.integers(1, 6))), y, x + w + 3.0, h]
    if targets:
        a = targets[len(targets) // 2]
        a["bbox"] = [float(SIZE + 4), a["bbox"][1], a["bbox"][2], a["bbox"][3]]  # entirely outside
    anns.append(
        {
            "id": len(anns),
            "image_id": len(images) + 500,
            "category_id": ROBOFLOW_ID["SDH"],
            **coco_box([40, 40, 20, 10]),
        }
    )
    missing = {
        "id": len(images),
        "file_name": f"{hexid('missing', seed, n=8)}_dcm.rf.{hexid('gone', seed, n=32)}.dcm",
        "width": SIZE,
        "height": SIZE,
    }
    images.append(missing)
    anns.append(
        {"id": len(anns), "image_id": missing["id"], "category_id": ROBOFLOW_ID["IPH"], **coco_box([100, 90, 18, 15])}
    )


# --------------------------------------------------------------------------- bucket
NOT_DICOM = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message></Error>\n"
)


def write_bucket(out: Path, patients: list[Patient], n: int, seed: int) -> dict:
    """bucket/ (no-hemorrhage slices, one truncated, one not DICOM) + metadata CSV."""
    target = max(8, round(n * POOL_PER_SLICE))
    objects: list[tuple[str, bytes]] = []
    # one negative slice of the patient present in both sources
    s0 = SliceSpec(0, 1, 1, 0, 5.0, 0.5, "pool")
    objects.append(
        (
            f"studies/{100000000 + int(hexid('study', seed, 0, 1, n=6), 16)}/1.dcm",
            slice_image(patients[0], s0, seed, with_lesions=False)[0],
        )
    )
    j = 0
    while len(objects) < target:
        idx = 10_000 + j
        p = make_patient(seed, idx, ())
        rng = rng_for(seed, 9, j)
        thickness = choice_weighted(rng, POOL_THICKNESS)
        study_no = 100000000 + int(hexid("study", seed, idx, n=7), 16)
        for inst in range(int(rng.integers(1, 4))):
            s = SliceSpec(idx, 0, 0, inst, thickness, float(rng.uniform(-0.5, 0.5)), "pool")
            objects.append((f"studies/{study_no}/{inst + 1}.dcm", slice_image(p, s, seed, with_lesions=False)[0]))
        j += 1
    objects = sorted(objects[:target])
    # a truncated object and one that is not DICOM among the first ones fetched
    objects[1] = (objects[1][0], dw.truncated(objects[1][1]))
    objects[2] = (objects[2][0], NOT_DICOM)
    rng = rng_for(seed, 10)
    n_fp = max(2, round(len(objects) * FP_FRACTION))
    fp = set(int(i) for i in rng.choice(len(objects), size=n_fp, replace=False))
    fp |= {0, 1}  # the shared patient's slice and the truncated object are FP (high priority)
    rows = ["s3_key,feedback"]
    for i, (key, data) in enumerate(objects):
        write_bytes_atomic(out / "bucket" / key, data)
        rows.append(f"{key},{'FP' if i in fp else 'TN'}")
    write_text_atomic(out / "metadata" / "no_hemorrhage_feedback.csv", "\n".join(rows) + "\n")
    return {"bucket_objects": len(objects), "bucket_fp": len(fp), "bucket_tn": len(objects) - len(fp)}


def generate(out_dir: Path, *, n: int, seed: int) -> dict:
    """Write the ct_v4 synthetic inputs into ``out_dir``; return counts."""
    if n < 20:
        raise ValueError(f"synth ct_v4: --n must be >= 20, got {n}")
    out = Path(out_dir)
    patients, slices = cohort(n, seed)
    summary = {"variant": "ct_v4", "n": n, "seed": seed, "patients": len(patients)}
    summary |= write_sources(out, patients, slices, seed)
    summary |= write_bucket(out, patients, n, seed)
    return summary
