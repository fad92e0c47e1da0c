"""Splitting at patient level, shared by the pediatric variants: the quality gate, and the
systematic sampling of patients over the splits within strata (`assign_patients`)."""

from __future__ import annotations

import bisect
from collections import defaultdict

import numpy as np

from radtune.records import SPLITS, Record, is_ok, reject
from radtune.seeds import sub_rng

STAGE = "stratify"


def quality_reason(record: Record, threshold: float) -> str:
    """`<source>: quality 0.412 < threshold 0.85: exposure 0.10 (anatomy spans 12% of ...)`:
    the failing components (normalize's `quality_detail`), worst first."""
    detail = record.get("quality_detail")
    return f"{record['source']}: quality {record['quality_score']:.3f} < threshold {threshold}" + (
        f": {detail}" if detail else ""
    )


def quality_gate(records: list[Record], threshold: float) -> list[Record]:
    return [
        reject(r, STAGE, quality_reason(r, threshold)) if is_ok(r) and r["quality_score"] < threshold else r
        for r in records
    ]


def age_bin(age_months: float, edges: list[int]) -> str:
    i = max(bisect.bisect_right(edges, age_months) - 1, 0)
    hi = edges[i + 1] if i + 1 < len(edges) else "inf"
    return f"{edges[i]}-{hi}"


def _shuffled(items: list[str], seed: int, salt: str) -> list[str]:
    order = sub_rng(seed, salt).permutation(len(items))
    return [items[i] for i in order]


def assign_patients(strata: dict[str, str], ratios: dict[str, float], seed: int) -> dict[str, str]:
    """patient -> split, by systematic sampling: patients are listed stratum by stratum
    (strata sorted, patients shuffled within each), and each goes to the split furthest
    below its share so far. Global ratios hold to within one patient and every stratum is
    spread over the splits in proportion (to within one patient per split)."""
    by_stratum: dict[str, list[str]] = defaultdict(list)
    for patient, s in sorted(strata.items()):
        by_stratum[s].append(patient)
    counts = {k: 0 for k in SPLITS}
    out: dict[str, str] = {}
    for s in sorted(by_stratum):
        for patient in _shuffled(by_stratum[s], seed, s):
            n = sum(counts.values()) + 1
            split = max(SPLITS, key=lambda k: (ratios[k] * n - counts[k], ratios[k]))
            counts[split] += 1
            out[patient] = split
    return out


def quality_report(records: list[Record], threshold: float) -> dict:
    """Scores of every decoded image and the ones the gate excluded."""
    scored = [r for r in records if r.get("quality_score") is not None]
    scores = np.array([r["quality_score"] for r in scored]) if scored else np.zeros(0)
    excluded = [r for r in scored if r["quality_score"] < threshold]
    return {
        "threshold": threshold,
        "scored": len(scored),
        "passed": len(scored) - len(excluded),
        "excluded": len(excluded),
        "score_min": round(float(scores.min()), 4) if len(scores) else None,
        "score_mean": round(float(scores.mean()), 4) if len(scores) else None,
        "score_max": round(float(scores.max()), 4) if len(scores) else None,
        "excluded_images": [
            {
                "image_id": r["image_id"],
                "source": r["source"],
                "quality_score": r["quality_score"],
                "components": r["quality"],
                "detail": r.get("quality_detail"),
            }
            for r in sorted(excluded, key=lambda r: r["source"])
        ],
        "images": [
            {"image_id": r["image_id"], "quality_score": r["quality_score"], "components": r["quality"]}
            for r in sorted(scored, key=lambda r: r["image_id"])
        ],
    }
