"""pedirad-custom's splits: the quality gate, then one split per patient over all tasks.

A record whose annotation file names its split (`{split}_annotations.json`) keeps it. A
patient with such a record takes that split for all their other images (a child in the
bone-age train split stays in train for the fracture task too); if the provided files
put one child in two splits, they stay as given and leakage-check reports the leak. The
remaining patients are split by `radtune.splits.assign_patients`
(systematic sampling within strata), stratified by task and its main labels (ROP zone,
stage and plus disease, fracture yes/no, bone-age band) of the patient's first image."""

from __future__ import annotations

from radtune.records import SPLITS, Record, is_ok
from radtune.splits import age_bin, assign_patients, quality_gate

BONE_AGE_BANDS = [0, 24, 60, 96, 145]


def stratum(r: Record) -> str:
    task = r["task"]
    if task == "rop_screening":
        return f"{task}|zone{r['zone']}|stage{min(int(r['stage']), 3)}|plus{bool(r['plus_disease'])}"
    if task == "fractures":
        return f"{task}|{'fracture' if r['fracture'] else 'normal'}"
    return f"{task}|{age_bin(r['bone_age_months'], BONE_AGE_BANDS)}|{r['sex']}"


def assign(records: list[Record], *, ratios: dict[str, float], threshold: float, seed: int) -> list[Record]:
    gated = quality_gate(records, threshold)
    kept = sorted((r for r in gated if is_ok(r)), key=lambda r: r["source"])
    given: dict[str, str] = {}
    for r in kept:
        if r["provided_split"]:
            given.setdefault(r["patient_id"], r["provided_split"])
    first: dict[str, Record] = {}
    for r in kept:
        if r["patient_id"] not in given:
            first.setdefault(r["patient_id"], r)
    drawn = assign_patients({p: stratum(r) for p, r in first.items()}, ratios, seed)
    split_of = given | drawn
    return [{**r, "split": r["provided_split"] or split_of[r["patient_id"]]} if is_ok(r) else r for r in gated]


def warnings(records: list[Record]) -> list[str]:
    """A task with no image in a split (its metrics cannot be computed there)."""
    kept = [r for r in records if is_ok(r) and r.get("split")]
    tasks = sorted({r["task"] for r in kept})
    return [
        f"task {t} has no image in split {s}"
        for t in tasks
        for s in SPLITS
        if not any(r["task"] == t and r["split"] == s for r in kept)
    ]
