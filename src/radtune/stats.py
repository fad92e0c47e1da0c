"""Dataset statistics: DVC metrics (one JSON) and plot data (age histogram and fracture
types per split)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from radtune.labels import FRACTURE_TYPES, NO_FRACTURE
from radtune.records import Record

SPLITS = ("train", "val", "test")
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


def dataset_metrics(images: list[Record], log: dict) -> dict:
    """`images`: the records of every written image (augmented copies included)."""
    originals = [r for r in images if not r.get("augmented_from")]
    return {
        "inputs": log["inputs"],
        "processed": log["processed"],
        "rejected": log["rejected"],
        "augmented_images": len(images) - len(originals),
        "all": _split_stats(originals),
        **{s: _split_stats([r for r in originals if r["split"] == s]) for s in SPLITS},
    }


def age_histogram(images: list[Record], max_age: int = 156) -> list[dict]:
    """Rows {age_bin, split, count}, one per 12-month bin and split (original images)."""
    edges = range(0, max_age, AGE_HISTOGRAM_STEP)
    counts = Counter((min(int(r["age_months"]) // AGE_HISTOGRAM_STEP, len(edges) - 1), r["split"])
                     for r in images if not r.get("augmented_from"))
    return [{"age_bin": f"{lo:03d}-{lo + AGE_HISTOGRAM_STEP - 1:03d} mo", "split": s, "count": counts[(i, s)]}
            for i, lo in enumerate(edges) for s in SPLITS]


def fracture_types(images: list[Record]) -> list[dict]:
    """Rows {fracture_type, split, count} (original images)."""
    counts = Counter((r["fracture_type"], r["split"]) for r in images if not r.get("augmented_from"))
    return [{"fracture_type": t, "split": s, "count": counts[(t, s)]}
            for t in (NO_FRACTURE, *FRACTURE_TYPES) for s in SPLITS]
