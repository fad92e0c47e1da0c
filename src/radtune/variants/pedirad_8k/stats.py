"""Dataset statistics: DVC metrics (one JSON) and plot data (age histogram and fracture
types per split)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from radtune.records import SPLITS, Record
from radtune.variants.pedirad_8k.labels import FRACTURE_TYPES, NO_FRACTURE
from radtune.variants.pedirad_8k.stratify import split_warnings

AGE_HISTOGRAM_STEP = 12  # months


def _split_stats(images: list[Record]) -> dict:
    ages = np.array([r["age_months"] for r in images], dtype=float)
    n = len(images)
    return {
        "images": n,
        "patients": len({r["patient_id"] for r in images}),
        "fracture_prevalence": round(sum(r["fracture"] for r in images) / n, 4) if n else None,
        "age_months_min": float(ages.min()) if n else None,
        "age_months_mean": round(float(ages.mean()), 2) if n else None,
        "age_months_max": float(ages.max()) if n else None,
        "male_fraction": round(sum(r["sex"] == "M" for r in images) / n, 4) if n else None,
    }


def dataset_metrics(images: list[Record], log: dict, min_split_images: int) -> dict:
    """`images`: the records of every written image (augmented copies included).
    `warnings`: splits too small or without a class (`stratify.split_warnings`)."""
    originals = [r for r in images if not r.get("augmented_from")]
    warnings = split_warnings(originals, min_split_images)
    return {
        "inputs": log["inputs"],
        "processed": log["processed"],
        "rejected": log["rejected"],
        "augmented_images": len(images) - len(originals),
        "all": _split_stats(originals),
        **{s: _split_stats([r for r in originals if r["split"] == s]) for s in SPLITS},
        "split_warning_count": len(warnings),
        "split_warnings": warnings,
    }


def plot_tables(images: list[Record], max_age: int = 156) -> dict[str, list[dict]]:
    """DVC plot data, one file per distribution and split, rows {category, count}: the
    age histogram (12-month bins) and the fracture types, over original images."""
    originals = [r for r in images if not r.get("augmented_from")]
    edges = range(0, max_age, AGE_HISTOGRAM_STEP)
    tables = {}
    for s in SPLITS:
        part = [r for r in originals if r["split"] == s]
        ages = Counter(min(int(r["age_months"]) // AGE_HISTOGRAM_STEP, len(edges) - 1) for r in part)
        types = Counter(r["fracture_type"] for r in part)
        tables[f"age_months_{s}.json"] = [
            {"category": f"{lo:03d}-{lo + AGE_HISTOGRAM_STEP - 1:03d}", "count": ages[i]} for i, lo in enumerate(edges)
        ]
        tables[f"fracture_type_{s}.json"] = [{"category": t, "count": types[t]} for t in (NO_FRACTURE, *FRACTURE_TYPES)]
    return tables
