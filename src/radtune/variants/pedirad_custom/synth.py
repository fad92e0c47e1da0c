"""pedirad_custom synthetic sample (seed 001's multi-task layout): bone age, ROP, fractures.

``generate(out_dir, n=..., seed=...)`` writes about ``n`` images (bone age 30 %, ROP 40 %,
fractures 30 %) plus a fixed handful of planted bad inputs, in the seed's layout::

    <out>/bone_age/{train,val,test}/<file>.dcm + bone_age/{split}_annotations.json
    <out>/rop_screening/{zone_<i|ii|iii>_stage<k>,normal_pupil}/<file>.{png,jpg,dcm}
        + rop_screening/annotations.json
    <out>/fractures/{distal_radius,buckle,normal}/<file>.{dcm,jpg,png} + fractures/annotations.json

Annotations are JSON arrays of records ``{"image_path": <relative to the task folder>,
"patient_id": <the PatientID of the header>, ...task fields}`` sorted by image_path. Same
(n, seed) => byte-identical files, whatever ``workers``.

* Radiographs reuse :mod:`radtune.variants.pedirad_8k.synth`: its patient and header
  sampling (fake but distinctive PHI, planted on purpose so a test can prove it never
  reaches outputs), its renderer (bone age carried by the image: carpal count, epiphyses,
  physes, hand size) and its DICOM writer. Bone age: one PA hand view per child, no
  fracture, a provided ~80/10/10 patient split. Fractures: wrist studies (1-3 views),
  ~50 % fractured, distal radius only (folder ``buckle/`` for buckle fractures,
  ``distal_radius/`` for the others, ``normal/``), ~75 % DICOM, the rest JPG/PNG exports
  (the renderer's display image under its bone window, encoded by
  :func:`radtune.imaging.encode_image`). ~20 % of fracture patients are bone-age
  patients seen again (same PatientID, name, birth date and sex; a later study date).
* ROP: colour fundus photographs from :mod:`radtune.synth.fundus`, one or two eyes per
  infant (fellow eyes correlated); ~55 % stage 0, stages 1-3 (zone II most common, zone I
  ~15 %, zone III ~25 % of ROP eyes), plus disease in ~25 % of ROP eyes (more in zone I /
  stage 3), postmenstrual age 31-44 weeks; per infant ~30 % PNG, ~30 % JPG, ~20 % DICOM
  RGB, ~20 % DICOM YBR_FULL_422.
* Planted bad inputs (listed in the summary's ``planted``, the same handful for every n):
  an ROP record with zone "IV", one with stage 7, a fracture record whose image is
  missing, a bone-age record with bone_age_months -4, a truncated DICOM file and a text
  file named ``.jpg`` in the ROP set, each referenced by a record.

``out_dir`` should be empty or hold a previous run of this generator: files this run would
not write are refused (ConfigError).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from radtune.errors import ConfigError
from radtune.imaging import encode_image
from radtune.io import write_bytes_atomic
from radtune.records import SPLITS
from radtune.synth import dicom_writer as dw
from radtune.variants.pedirad_8k import synth as p8
from radtune.variants.pedirad_8k.labels import NO_FRACTURE, FileLabels

from .tasks import TASKS

TASK_SHARE = {"bone_age": 0.3, "rop_screening": 0.4}  # fractures: the rest

ROP_STAGE_WEIGHTS = {1: 0.40, 2: 0.35, 3: 0.25}  # of ROP eyes; 4 and 5 are allowed, not sampled
ROP_ZONE_WEIGHTS = {"I": 0.15, "II": 0.60, "III": 0.25}
ROP_FORMATS = {"png": 0.30, "jpg": 0.30, "dcm_rgb": 0.20, "dcm_ybr": 0.20}
FRACTURE_FORMATS = {"dcm": 0.75, "jpg": 0.15, "png": 0.10}
CAMERAS = (("Natus Medical Inc.", "RetCam Envision"), ("Phoenix Technology Group", "ICON"))
BONE_AGE_CONTEXT = (
    "Bone age assessment, short stature",
    "Bone age assessment, tall stature",
    "Early puberty, bone age requested",
    "Delayed puberty, bone age requested",
    "Growth hormone therapy follow-up",
    "Endocrine review, growth below the 3rd centile",
)
SHARED_FRACTION = 0.2  # of fracture patients who are bone-age patients too


def _sub_seed(seed: int, task: str) -> int:
    """A per-task seed (UIDs and pixel streams differ between tasks and from pedirad_8k)."""
    return int(np.random.SeedSequence([seed, 0xC057, TASKS.index(task)]).generate_state(1)[0])


# ----------------------------------------------------------------------------- items


@dataclass(frozen=True)
class Eye:
    """One fundus photograph of one infant."""

    index: int
    zone: str | None
    stage: int
    plus: bool
    eye: str  # OD | OS
    fmt: str  # png | jpg | dcm_rgb | dcm_ybr
    header: tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class Item:
    """One file to write (``write`` False: a record whose image is missing on purpose)."""

    task: str
    rel: str  # relative to the task folder
    kind: str  # ok | truncated | not_image | missing
    fmt: str  # dcm | jpg | png | dcm_rgb | dcm_ybr
    seed: int  # the task's sub-seed
    xray: p8.ImageSpec | None
    eye: Eye | None
    record: tuple[tuple[str, object], ...]

    @property
    def path(self) -> str:
        return f"{self.task}/{self.rel}"


def _xray_spec(rng: np.random.Generator, index: int, view: str, instance: int, patient: p8.Patient) -> p8.ImageSpec:
    """Transfer syntax and size as pedirad_8k's ``plan`` draws them."""
    r = rng.random()
    syntax = "rle" if r < 0.15 else "j2k" if r < 0.25 else "explicit"
    rows = int(rng.integers(900, 1301))
    cols = min(int(rng.integers(700, 1001)), 1_000_000 // rows)
    return p8.ImageSpec(index, f"{index:05d}", "ok", syntax, view, instance, rows, cols, patient)


def bone_age_patient(rng: np.random.Generator, seed: int, index: int) -> p8.Patient:
    """A pedirad_8k patient turned into a bone-age study: one PA hand view, no fracture."""
    p = p8.sample_patient(rng, seed, index)
    lab = p.labels
    context = BONE_AGE_CONTEXT[int(rng.integers(len(BONE_AGE_CONTEXT)))]
    labels = FileLabels(lab.age_months, lab.sex, False, NO_FRACTURE, NO_FRACTURE)
    return replace(p, labels=labels, context=context, views=("PA",), body_part="HAND")


def _add_months(date: str, months: int) -> str:
    m = int(date[:4]) * 12 + int(date[4:6]) - 1 + months
    return f"{m // 12:04d}{m % 12 + 1:02d}{date[6:]}"


IDENTITY = ("PatientName", "PatientID", "OtherPatientIDs", "PatientBirthDate", "PatientSex")
STUDY_DATES = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")


def fracture_patient(
    rng: np.random.Generator, seed: int, index: int, same_child: p8.Patient | None = None
) -> p8.Patient:
    """A pedirad_8k wrist study restricted to the distal radius, fractured ~50 % of the time.
    ``same_child``: a bone-age patient seen again 1-24 months later (same identity)."""
    p = p8.sample_patient(rng, seed, index)
    age, sex, bone_age = p.labels.age_months, p.labels.sex, p.bone_age
    header = dict(p.header)
    delta = int(rng.integers(1, 25))
    if same_child is not None:
        old = dict(same_child.header)
        age, sex = same_child.labels.age_months + delta, same_child.labels.sex
        bone_age = same_child.bone_age + delta
        header.pop("OtherPatientIDs", None)
        header.update({k: old[k] for k in IDENTITY if k in old})
        header.update({k: _add_months(str(old["StudyDate"]), delta) for k in STUDY_DATES})
        header.update(InstitutionName=old["InstitutionName"], InstitutionAddress=old["InstitutionAddress"])
        header["PatientAge"] = f"{age:03d}M"
    fractured = rng.random() < 0.5
    ftype = p8._choice(rng, p8.FRACTURE_WEIGHTS)
    if ftype == "salter_harris_ii" and min(age, bone_age) < 24:
        ftype = "buckle"  # no ossified distal radial epiphysis to slip yet (as pedirad_8k)
    trauma = rng.random() < (0.85 if fractured else 0.55)
    pool = p8.TRAUMA_CONTEXT if trauma else p8.OTHER_CONTEXT
    context = pool[int(rng.integers(len(pool)))]
    if fractured:
        labels = FileLabels(age, sex, True, ftype, "distal_radius")
    else:
        labels = FileLabels(age, sex, False, NO_FRACTURE, NO_FRACTURE)
    body_part = "WRIST" if p.body_part == "HAND" else p.body_part
    return replace(
        p,
        labels=labels,
        bone_age=bone_age,
        context=context,
        body_part=body_part,
        header=tuple(sorted(header.items())),
    )


def fracture_folder(labels: FileLabels) -> str:
    if not labels.fracture:
        return "normal"
    return "buckle" if labels.fracture_type == "buckle" else "distal_radius"


def rop_folder(zone: str | None, stage: int) -> str:
    return "normal_pupil" if stage == 0 or zone is None else f"zone_{zone.lower()}_stage{stage}"


# ----------------------------------------------------------------------------- ROP sampling


def _rop_findings(rng: np.random.Generator) -> tuple[str | None, int, bool]:
    if rng.random() < 0.58:  # ~55 % of all eyes once fellow eyes are counted
        return None, 0, False
    stage = int(p8._choice(rng, {str(k): v for k, v in ROP_STAGE_WEIGHTS.items()}))
    zone = p8._choice(rng, ROP_ZONE_WEIGHTS)
    if zone == "III" and stage == 3 and rng.random() < 0.5:
        stage = 2  # stage 3 in zone III is uncommon
    p_plus = 0.16 + 0.30 * (zone == "I") + 0.25 * (stage == 3)
    return zone, stage, bool(rng.random() < p_plus)


def _fellow(rng: np.random.Generator, zone: str | None, stage: int, plus: bool) -> tuple[str | None, int, bool]:
    """The other eye: usually the same findings, else one stage apart (ROP is mostly symmetric)."""
    if rng.random() < 0.7:
        return zone, stage, plus
    new = int(np.clip(stage + (1 if rng.random() < 0.5 else -1), 0, 3))
    if new == 0:
        return None, 0, False
    zone = zone or p8._choice(rng, ROP_ZONE_WEIGHTS)
    return zone, new, bool(plus and new >= stage)


def rop_infant(rng: np.random.Generator, seed: int, index: int, n_eyes: int) -> tuple[list[Eye], dict]:
    """The eyes of one screened infant and their shared record fields."""
    findings = [_rop_findings(rng)]
    if n_eyes == 2:
        findings.append(_fellow(rng, *findings[0]))
    worst = max(f[1] for f in findings)
    pma = int(np.clip(np.rint(rng.normal(33.5 + 1.0 * worst, 2.0)), 31, 44))
    ga = int(rng.integers(24, 31))  # gestational age at birth, weeks
    chron_weeks = max(pma - ga, 1)
    age_months = chron_weeks * 7 // 30
    sex = "M" if rng.random() < 0.53 else "F"
    header = p8.sample_header(rng, seed, index, FileLabels(age_months, sex, False, NO_FRACTURE, NO_FRACTURE))
    study = dt.date(
        int(str(header["StudyDate"])[:4]), int(str(header["StudyDate"])[4:6]), int(str(header["StudyDate"])[6:])
    )
    birth = study - dt.timedelta(days=7 * chron_weeks + int(rng.integers(0, 7)))
    maker, model = CAMERAS[int(rng.integers(len(CAMERAS)))]
    header.update(
        PatientBirthDate=birth.strftime("%Y%m%d"),
        PatientAge=f"{chron_weeks:03d}W",
        Manufacturer=maker,
        ManufacturerModelName=model,
        StudyDescription="ROP SCREENING",
        SeriesDescription="FUNDUS COLOR WIDE FIELD",
    )
    fmt = p8._choice(rng, ROP_FORMATS)
    first = "OD" if rng.random() < 0.5 else "OS"
    eyes_order = [first, "OS" if first == "OD" else "OD"][:n_eyes]
    eyes = []
    for k, ((zone, stage, plus), eye) in enumerate(zip(findings, eyes_order)):
        h = dict(header)
        h.update(
            ImageLaterality="R" if eye == "OD" else "L",
            Laterality="R" if eye == "OD" else "L",
            SeriesNumber=1,
            InstanceNumber=k + 1,
            SOPInstanceUID=dw.uid(seed, "image", index, eye),
        )
        eyes.append(Eye(index, zone, stage, plus, eye, fmt, tuple(sorted(h.items()))))
    shared = {"postmenstrual_age_weeks": pma, "age_months": age_months, "sex": sex}
    return eyes, shared


def _rop_item(eye: Eye, seed: int, shared: dict, *, kind: str = "ok", record: dict | None = None) -> Item:
    ext = "dcm" if eye.fmt.startswith("dcm") else eye.fmt
    rel = f"{rop_folder(eye.zone, eye.stage)}/rop_{eye.index:05d}_{eye.eye}.{ext}"
    h = dict(eye.header)
    rec = {
        "image_path": rel,
        "patient_id": h["PatientID"],
        "zone": eye.zone,
        "stage": eye.stage,
        "plus_disease": eye.plus,
        "eye": eye.eye,
        **shared,
    }
    rec.update(record or {})
    return Item("rop_screening", rel, kind, eye.fmt, seed, None, eye, tuple(rec.items()))


# ----------------------------------------------------------------------------- plan


def _xray_record(rel: str, p: p8.Patient, task: str) -> dict:
    lab = p.labels
    rec: dict[str, object] = {"image_path": rel, "patient_id": dict(p.header)["PatientID"]}
    if task == "bone_age":
        rec.update(bone_age_months=p.bone_age, age_months=lab.age_months, sex=lab.sex)
    else:
        rec.update(
            fracture=lab.fracture,
            fracture_type=lab.fracture_type,
            location=lab.location,
            age_months=lab.age_months,
            sex=lab.sex,
            clinical_context=p.context,
        )
    return rec


def _counts(n: int) -> dict[str, int]:
    n_ba = round(n * TASK_SHARE["bone_age"])
    n_rop = round(n * TASK_SHARE["rop_screening"])
    return {"bone_age": n_ba, "rop_screening": n_rop, "fractures": max(n - n_ba - n_rop, 0)}


def _split_of(n: int, rng: np.random.Generator) -> list[str]:
    """~80/10/10 by patient (val and test at least one each when n >= 3)."""
    n_val = max(1, round(n * 0.1)) if n >= 3 else 0
    n_test = max(1, round(n * 0.1)) if n >= 3 else 0
    labels = ["val"] * n_val + ["test"] * n_test + ["train"] * (n - n_val - n_test)
    return [labels[int(i)] for i in np.argsort(rng.permutation(n))]


def _plan_bone_age(count: int, seed: int) -> tuple[list[Item], list[p8.Patient]]:
    sub = _sub_seed(seed, "bone_age")
    rng = np.random.default_rng([sub, 10])
    patients = [bone_age_patient(rng, sub, i) for i in range(count)]
    splits = _split_of(count, rng)
    items = []
    for i, (p, split) in enumerate(zip(patients, splits)):
        spec = _xray_spec(rng, i, "PA", 1, p)
        rel = f"{split}/ba_{i:05d}.dcm"
        items.append(
            Item("bone_age", rel, "ok", "dcm", sub, spec, None, tuple(_xray_record(rel, p, "bone_age").items()))
        )
    return items, patients


def _plan_fractures(count: int, seed: int, bone_age: list[p8.Patient]) -> tuple[list[Item], int]:
    sub = _sub_seed(seed, "fractures")
    rng = np.random.default_rng([sub, 10])
    # how many patients: pedirad_8k draws 1-3 views (mean 1.9); link ~20 % to bone-age children
    n_pat_guess = max(1, round(count / 1.9))
    n_shared = min(len(bone_age), max(1, round(SHARED_FRACTION * n_pat_guess))) if count else 0
    shared_at = {int(i) for i in rng.permutation(n_pat_guess)[:n_shared]}
    pick = [int(i) for i in rng.permutation(len(bone_age))[:n_shared]] if bone_age else []
    patients: list[p8.Patient] = []
    total, linked = 0, 0
    while total < count:
        j = len(patients)
        child = bone_age[pick[linked]] if j in shared_at and linked < len(pick) else None
        linked += child is not None
        p = fracture_patient(rng, sub, j, child)
        patients.append(p)
        total += len(p.views)
    items = []
    pairs = [(p, v, k + 1) for p in patients for k, v in enumerate(p.views)][:count]
    fmts = {p.index: p8._choice(rng, FRACTURE_FORMATS) for p in patients}
    for i, (p, view, inst) in enumerate(pairs):
        spec = _xray_spec(rng, i, view, inst, p)
        fmt = fmts[p.index]
        rel = f"{fracture_folder(p.labels)}/wrist_{p.index:05d}_{view}.{fmt}"
        items.append(
            Item("fractures", rel, "ok", fmt, sub, spec, None, tuple(_xray_record(rel, p, "fractures").items()))
        )
    return items, len({p.index for p, _, _ in pairs if dict(p.header)["PatientID"] in _ids(bone_age)})


def _ids(patients: list[p8.Patient]) -> set[str]:
    return {str(dict(p.header)["PatientID"]) for p in patients}


def _plan_rop(count: int, seed: int) -> list[Item]:
    sub = _sub_seed(seed, "rop_screening")
    rng = np.random.default_rng([sub, 10])
    items: list[Item] = []
    index = 0
    while len(items) < count:
        n_eyes = 2 if count - len(items) >= 2 and rng.random() < 0.45 else 1
        eyes, shared = rop_infant(rng, sub, index, n_eyes)
        items += [_rop_item(e, sub, shared) for e in eyes]
        index += 1
    return items


PLANTED_BASE = 90_000  # index range of the planted inputs (never reached by n)


def _plan_planted(seed: int) -> tuple[list[Item], list[dict]]:
    """The fixed handful of bad inputs, from their own random stream (independent of n)."""
    items: list[Item] = []
    planted: list[dict] = []

    def note(item: Item, field: str, problem: str) -> None:
        items.append(item)
        planted.append({"task": item.task, "file": item.path, "field": field, "problem": problem})

    sub = _sub_seed(seed, "rop_screening")
    rng = np.random.default_rng([sub, 90])
    i = PLANTED_BASE
    eyes, shared = rop_infant(rng, sub, i, 1)
    eye = replace(eyes[0], zone="II", stage=2, plus=False, fmt="png")
    note(_rop_item(eye, sub, shared, record={"zone": "IV"}), "zone", 'zone "IV" (only I, II, III exist)')
    eyes, shared = rop_infant(rng, sub, i + 1, 1)
    eye = replace(eyes[0], zone="II", stage=1, plus=False, fmt="jpg")
    note(_rop_item(eye, sub, shared, record={"stage": 7}), "stage", "stage 7 (ROP stages are 0..5)")
    eyes, shared = rop_infant(rng, sub, i + 2, 1)
    eye = replace(eyes[0], zone=None, stage=0, plus=False, fmt="jpg")
    note(replace(_rop_item(eye, sub, shared), kind="not_image"), "image", "a text file named .jpg (not an image)")

    sub = _sub_seed(seed, "bone_age")
    rng = np.random.default_rng([sub, 90])
    p = bone_age_patient(rng, sub, i)
    rel = f"train/ba_{i:05d}.dcm"
    rec = {**_xray_record(rel, p, "bone_age"), "bone_age_months": -4}
    note(
        Item("bone_age", rel, "ok", "dcm", sub, _xray_spec(rng, i, "PA", 1, p), None, tuple(rec.items())),
        "bone_age_months",
        "bone_age_months -4 (must be >= 0)",
    )

    sub = _sub_seed(seed, "fractures")
    rng = np.random.default_rng([sub, 90])
    p = fracture_patient(rng, sub, i)
    p = replace(p, labels=FileLabels(p.labels.age_months, p.labels.sex, True, "buckle", "distal_radius"))
    rel = f"buckle/wrist_{i:05d}_PA.dcm"
    spec = replace(_xray_spec(rng, i, "PA", 1, p), kind="truncated", syntax="explicit")
    item = Item("fractures", rel, "truncated", "dcm", sub, spec, None, tuple(_xray_record(rel, p, "fractures").items()))
    note(item, "PixelData", "truncated DICOM: (7FE0,0010) Pixel Data cut short")
    p = fracture_patient(rng, sub, i + 1)
    p = replace(p, labels=FileLabels(p.labels.age_months, p.labels.sex, False, NO_FRACTURE, NO_FRACTURE))
    rel = f"normal/wrist_{i + 1:05d}_PA.dcm"
    item = Item("fractures", rel, "missing", "dcm", sub, None, None, tuple(_xray_record(rel, p, "fractures").items()))
    note(item, "image_path", "the image file does not exist")
    return items, planted


@dataclass(frozen=True)
class Plan:
    items: list[Item]
    planted: list[dict]
    shared_patients: int


def plan(n: int, seed: int) -> Plan:
    """Every file and record of one run (images of all tasks, then the planted inputs)."""
    counts = _counts(n)
    ba, ba_patients = _plan_bone_age(counts["bone_age"], seed)
    rop = _plan_rop(counts["rop_screening"], seed)
    fx, shared = _plan_fractures(counts["fractures"], seed, ba_patients)
    bad, planted = _plan_planted(seed)
    return Plan(ba + rop + fx + bad, planted, shared)


# ----------------------------------------------------------------------------- bytes


def xray_export(spec: p8.ImageSpec, seed: int, fmt: str) -> bytes:
    """A JPG/PNG export of a radiograph: the display image under its bone window, 8 bit."""
    img, levels = p8.render_presentation(spec, seed)
    lo = levels["air"] + (levels["soft"] - levels["air"]) // 10
    hi = max(levels["p_hi"], lo + 1)
    u8 = np.clip((img.astype(np.int32) - lo) * 255 // (hi - lo), 0, 255).astype(np.uint8)
    return encode_image(u8, fmt, jpeg_quality=92)


def fundus_bytes(eye: Eye, seed: int) -> bytes:
    from radtune.synth import fundus

    rng = np.random.default_rng([seed, 3, eye.index, 0 if eye.eye == "OD" else 1])
    rgb = fundus.fundus_rgb(rng, zone=eye.zone, stage=eye.stage, plus=eye.plus, size=640)
    if eye.fmt in ("png", "jpg"):
        return encode_image(rgb, eye.fmt, jpeg_quality=92)
    photometric = "RGB" if eye.fmt == "dcm_rgb" else "YBR_FULL_422"
    return fundus.fundus_dicom_bytes(rgb, dict(eye.header), photometric=photometric)


def item_bytes(item: Item) -> bytes:
    """The bytes of one file."""
    if item.kind == "not_image":
        return p8.NOT_DICOM_TEXT.encode("ascii")
    if item.eye is not None:
        return fundus_bytes(item.eye, item.seed)
    assert item.xray is not None
    if item.fmt == "dcm":
        return p8.file_bytes(item.xray, item.seed)
    return xray_export(item.xray, item.seed, item.fmt)


def _write_one(args: tuple[Item, str]) -> tuple[str, int]:
    item, out_dir = args
    data = item_bytes(item)
    write_bytes_atomic(Path(out_dir) / item.path, data)
    return item.path, len(data)


def annotation_files(items: list[Item]) -> dict[str, bytes]:
    """{relative path: JSON bytes}: bone_age/{split}_annotations.json, <task>/annotations.json."""
    groups: dict[str, list[dict]] = {}
    for it in items:
        name = f"{it.rel.split('/')[0]}_annotations.json" if it.task == "bone_age" else "annotations.json"
        groups.setdefault(f"{it.task}/{name}", []).append(dict(it.record))
    for split in SPLITS:
        groups.setdefault(f"bone_age/{split}_annotations.json", [])
    out = {}
    for path, recs in sorted(groups.items()):
        recs.sort(key=lambda r: str(r["image_path"]))
        out[path] = (json.dumps(recs, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return out


def _check_out_dir(out_dir: Path, names: set[str]) -> None:
    if not out_dir.exists():
        return
    stale = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())
    stale = [s for s in stale if s not in names]
    if stale:
        raise ConfigError(
            f"synth pedirad_custom: {out_dir} holds {len(stale)} file(s) this run would not write "
            f"(e.g. {stale[0]!r}); use an empty folder or delete it first"
        )


def _count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return dict(sorted(out.items()))


def summary(p: Plan, sizes: dict[str, int], annotations: dict[str, bytes]) -> dict:
    """Counts per task (images, records, patients, formats, labels), the planted inputs."""
    out: dict = {
        "files": len(sizes) + len(annotations),
        "images": len(sizes),
        "bytes": sum(sizes.values()) + sum(len(b) for b in annotations.values()),
        "annotations": sorted(annotations),
        "shared_patients": p.shared_patients,
        "planted": p.planted,
        "tasks": {},
    }
    planted = {d["file"] for d in p.planted}
    for task in TASKS:
        its = [i for i in p.items if i.task == task]
        good = [i for i in its if i.path not in planted]
        recs = [dict(i.record) for i in good]
        t = {
            "records": len(its),
            "images": sum(1 for i in its if i.kind != "missing"),
            "clean_images": len(good),
            "patients": len({r["patient_id"] for r in recs}),
            "formats": _count(i.fmt for i in good),
            "folders": _count(i.rel.split("/")[0] for i in good),
        }
        if task == "rop_screening":
            t["stage"] = _count(r["stage"] for r in recs)
            t["zone"] = _count(r["zone"] for r in recs)
            t["plus_disease"] = sum(1 for r in recs if r["plus_disease"])
            t["two_eye_infants"] = sum(1 for v in _count(r["patient_id"] for r in recs).values() if v == 2)
        if task == "fractures":
            t["fracture_type"] = _count(r["fracture_type"] for r in recs)
            t["syntax"] = _count(i.xray.syntax for i in good if i.fmt == "dcm" and i.xray is not None)
        if task == "bone_age":
            t["syntax"] = _count(i.xray.syntax for i in good if i.xray is not None)
        out["tasks"][task] = t
    return out


def generate(out_dir: Path, *, n: int, seed: int, workers: int | None = None) -> dict:
    """Write about ``n`` images + annotations (+ the planted inputs) into ``out_dir``; return
    a JSON-able summary."""
    if n < 1:
        raise ConfigError(f"synth pedirad_custom: n must be >= 1 (got {n})")
    out_dir = Path(out_dir)
    p = plan(n, seed)
    files = [i for i in p.items if i.kind != "missing"]
    annotations = annotation_files(p.items)
    _check_out_dir(out_dir, {i.path for i in files} | set(annotations))
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(i, str(out_dir)) for i in files]
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    if workers > 1 and len(jobs) >= 8:
        with ProcessPoolExecutor(max_workers=workers) as ex:
            sizes = dict(ex.map(_write_one, jobs, chunksize=2))
    else:
        sizes = dict(map(_write_one, jobs))
    for rel, data in annotations.items():
        write_bytes_atomic(out_dir / rel, data)
    return summary(p, sizes, annotations)
