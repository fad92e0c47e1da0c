"""pedirad-custom's dataset statistics: DVC metrics (images, patients and the main labels
per task and split) and the tables of its distributions figure."""

from __future__ import annotations

from collections import Counter

from radtune.records import SPLITS, Record

from .splitting import warnings
from .tasks import TASKS


def _task_stats(task: str, images: list[Record]) -> dict:
    n = len(images)
    out: dict = {"images": n, "patients": len({r["patient_id"] for r in images})}
    if not n:
        return out
    if task == "bone_age":
        out["bone_age_months_mean"] = round(sum(r["bone_age_months"] for r in images) / n, 2)
        out["age_months_mean"] = round(sum(r["age_months"] for r in images) / n, 2)
    elif task == "rop_screening":
        out["rop_prevalence"] = round(sum(r["stage"] > 0 for r in images) / n, 4)
        out["plus_prevalence"] = round(sum(bool(r["plus_disease"]) for r in images) / n, 4)
        out["zone_i"] = sum(r["zone"] == "I" for r in images)
    else:
        out["fracture_prevalence"] = round(sum(bool(r["fracture"]) for r in images) / n, 4)
    return out


def dataset_metrics(images: list[Record], log: dict) -> dict:
    """`images`: the records of every written image (augmented copies included)."""
    originals = [r for r in images if not r.get("augmented_from")]
    warned = warnings(originals)
    per_split = {
        s: {t: _task_stats(t, [r for r in originals if r["split"] == s and r["task"] == t]) for t in TASKS}
        for s in SPLITS
    }
    return {
        "inputs": log["inputs"],
        "processed": log["processed"],
        "rejected": log["rejected"],
        "annotation_records_rejected": log["annotation_records"]["rejected"],
        "augmented_images": len(images) - len(originals),
        "patients": len({r["patient_id"] for r in originals}),
        "patients_in_several_tasks": sum(len(ts) > 1 for ts in _tasks_by_patient(originals).values()),
        **per_split,
        "split_warning_count": len(warned),
        "split_warnings": warned,
    }


def _tasks_by_patient(images: list[Record]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in images:
        out.setdefault(r["patient_id"], set()).add(r["task"])
    return out


def _rop_label(r: Record) -> str:
    return (
        "normal" if r["stage"] == 0 else f"zone {r['zone']} stage {r['stage']}" + (" plus" if r["plus_disease"] else "")
    )


def plot_tables(images: list[Record]) -> dict[str, list[dict]]:
    """Per split, {category, count} rows: images per task, ROP findings, fracture types,
    bone ages in 24-month bands (original images only)."""
    originals = [r for r in images if not r.get("augmented_from")]
    rop_labels = sorted({_rop_label(r) for r in originals if r["task"] == "rop_screening"})
    fracture_types = sorted({r["fracture_type"] for r in originals if r["task"] == "fractures"})
    bands = range(0, 228, 24)
    tables = {}
    for s in SPLITS:
        part = [r for r in originals if r["split"] == s]
        tasks = Counter(r["task"] for r in part)
        rop = Counter(_rop_label(r) for r in part if r["task"] == "rop_screening")
        fx = Counter(r["fracture_type"] for r in part if r["task"] == "fractures")
        ages = Counter(min(int(r["bone_age_months"]) // 24, len(bands) - 1) for r in part if r["task"] == "bone_age")
        tables[f"tasks_{s}.json"] = [{"category": t, "count": tasks[t]} for t in TASKS]
        tables[f"rop_findings_{s}.json"] = [{"category": c, "count": rop[c]} for c in rop_labels]
        tables[f"fracture_types_{s}.json"] = [{"category": c, "count": fx[c]} for c in fracture_types]
        tables[f"bone_age_months_{s}.json"] = [
            {"category": f"{lo:03d}-{lo + 23:03d}", "count": ages[i]} for i, lo in enumerate(bands)
        ]
    return tables
