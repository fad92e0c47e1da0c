"""stratify for ct_v4: patient-level 80/15/5 split, then no-hemorrhage balancing.

1. Patients (keyed by the pseudonym of the DICOM PatientID, so one person in two sources
   is one patient) are grouped by their rarest class (by image count over the whole set;
   "none" for patients without any box). Within each group, shuffled with the seed,
   patients are dealt to the splits by largest remainder of the ratios, with at least one
   patient per split when the group has as many patients as there are splits: every
   class then reaches every split.
2. Balancing: each split's shortfall to the target no-hemorrhage share is
   ``ceil((target * n - no_hem) / (1 - target))``; the usable pool (at most the total
   shortfall) is allocated to the splits in proportion to their shortfalls (largest
   remainder). Pool images are taken FP first, then TN (each in image-id order); a pool
   patient already in a split goes to that split, a new one to the split with the most
   quota left; an image that finds its patient's split full is left unused (logged).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping

from radtune.seeds import sub_rng
from radtune.variants.ct_v4.coco import annotations_by_image, class_names
from radtune.variants.ct_v4.constants import SPLIT_TITLES, SPLITS


def largest_remainder(total: int, weights: Mapping[str, float], minimum: int = 0) -> dict[str, int]:
    """Integers summing to ``total`` in proportion to ``weights`` (ties: key order),
    each at least ``minimum`` when total allows it."""
    keys = list(weights)
    wsum = sum(weights.values())
    if total <= 0 or wsum <= 0:
        return {k: 0 for k in keys}
    floor_min = minimum if total >= minimum * len(keys) else 0
    rest = total - floor_min * len(keys)
    raw = {k: rest * weights[k] / wsum for k in keys}
    out = {k: floor_min + math.floor(raw[k]) for k in keys}
    left = total - sum(out.values())
    for k in sorted(keys, key=lambda k: (-(raw[k] - math.floor(raw[k])), keys.index(k)))[:left]:
        out[k] += 1
    return out


def patient_classes(doc: dict) -> dict[str, set[str]]:
    """patient_id -> the classes on any of their images."""
    names = class_names(doc)
    by_image = annotations_by_image(doc)
    out: dict[str, set[str]] = defaultdict(set)
    for im in doc["images"]:
        out[im["patient_id"]].update(names[a["category_id"]] for a in by_image[im["id"]])
    return dict(out)


def patient_strata(doc: dict) -> dict[str, str]:
    """patient_id -> rarest class present (by number of images), or 'none'."""
    names = class_names(doc)
    freq: dict[str, int] = defaultdict(int)
    for anns in annotations_by_image(doc).values():
        for c in {names[a["category_id"]] for a in anns}:
            freq[c] += 1
    return {p: (min(cs, key=lambda c: (freq[c], c)) if cs else "none") for p, cs in patient_classes(doc).items()}


def assign_patients(strata: Mapping[str, str], ratios: Mapping[str, float], seed: int) -> dict[str, str]:
    """patient -> split (see the module docs, step 1)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for p, s in sorted(strata.items()):
        groups[s].append(p)
    out: dict[str, str] = {}
    for s in sorted(groups):
        order = sub_rng(seed, f"stratum:{s}").permutation(len(groups[s]))
        patients = [groups[s][i] for i in order]
        counts = largest_remainder(len(patients), {k: float(ratios[k]) for k in SPLITS}, minimum=1)
        i = 0
        for split in SPLITS:
            for p in patients[i : i + counts[split]]:
                out[p] = split
            i += counts[split]
    return out


def has_hemorrhage(doc: dict) -> dict[int, bool]:
    return {i: bool(anns) for i, anns in annotations_by_image(doc).items()}


def shortfall(n_images: int, n_no_hem: int, target: float) -> int:
    """No-hemorrhage images to add so that the share reaches ``target``."""
    if not 0 < target < 1:
        raise ValueError(f"balance target must be in (0, 1), got {target}")
    return max(0, math.ceil(round((target * n_images - n_no_hem) / (1 - target), 9)))


def split_counts(images: list[dict], hem: Mapping[int, bool], split_of: Mapping[str, str]) -> dict[str, dict[str, int]]:
    out = {s: {"images": 0, "no_hem": 0} for s in SPLITS}
    for im in images:
        s = split_of[im["patient_id"]]
        out[s]["images"] += 1
        out[s]["no_hem"] += 0 if hem[im["id"]] else 1
    return out


def pool_order(pool_images: list[dict]) -> list[dict]:
    """FP first, then TN; each by file name (a pseudonym: stable and unrelated to PHI)."""
    return sorted(pool_images, key=lambda im: (0 if im.get("feedback") == "FP" else 1, im["file_name"]))


def distribute_pool(
    pool_images: list[dict], split_of: Mapping[str, str], quota: Mapping[str, int]
) -> tuple[dict[str, list[dict]], list[dict]]:
    """(split -> pool images added, unused [{file_name, reason}]) following the module docs."""
    remaining = dict(quota)
    added: dict[str, list[dict]] = {s: [] for s in SPLITS}
    patient_split: dict[str, str | None] = dict(split_of)
    unused: list[dict] = []
    for im in pool_order(pool_images):
        p = im["patient_id"]
        if p not in patient_split:
            best = max(SPLITS, key=lambda s: (remaining[s] / quota[s] if quota[s] else -1.0, -SPLITS.index(s)))
            patient_split[p] = best if remaining[best] > 0 else None
        s = patient_split[p]
        if s is None or remaining[s] <= 0:
            reason = (
                "not needed: every split is balanced"
                if sum(max(0, v) for v in remaining.values()) == 0
                else f"patient's split ({s}) needs no more no-hemorrhage images"
            )
            unused.append({"file_name": im["file_name"], "feedback": im.get("feedback"), "reason": reason})
            continue
        added[s].append(im)
        remaining[s] -= 1
    return added, unused


def balance(
    merged: dict, pool: dict, ratios: Mapping[str, float], seed: int, target: float
) -> tuple[dict[str, list[int]], dict[str, list[dict]], dict]:
    """Split ``merged`` by patient and balance with ``pool``.

    Returns (split -> merged image ids, split -> pool image entries, balance report)."""
    strata = patient_strata(merged)
    split_of = assign_patients(strata, ratios, seed)
    hem = has_hemorrhage(merged)
    before = split_counts(merged["images"], hem, split_of)
    need = {s: shortfall(before[s]["images"], before[s]["no_hem"], target) for s in SPLITS}
    pool_images = pool["images"]
    total_need = sum(need.values())
    usable = min(len(pool_images), total_need)
    quota = largest_remainder(usable, {s: float(need[s]) for s in SPLITS})
    added, unused = distribute_pool(pool_images, split_of, quota)
    ids = {s: [im["id"] for im in merged["images"] if split_of[im["patient_id"]] == s] for s in SPLITS}
    patients = {
        s: sorted({p for p, sp in split_of.items() if sp == s} | {im["patient_id"] for im in added[s]}) for s in SPLITS
    }
    after = {
        s: {"images": before[s]["images"] + len(added[s]), "no_hem": before[s]["no_hem"] + len(added[s])}
        for s in SPLITS
    }
    report = {
        "target": target,
        "before": before,
        "shortfall": need,
        "total_shortfall": total_need,
        "pool": {
            "available": len(pool_images),
            "fp": sum(1 for im in pool_images if im.get("feedback") == "FP"),
            "tn": sum(1 for im in pool_images if im.get("feedback") != "FP"),
        },
        "quota": quota,
        "distributed": {s: len(added[s]) for s in SPLITS},
        "distributed_fp": {s: sum(1 for im in added[s] if im.get("feedback") == "FP") for s in SPLITS},
        "after": after,
        "unused": unused,
        "patients": {s: len(patients[s]) for s in SPLITS},
        "strata": {k: sum(1 for v in strata.values() if v == k) for k in sorted(set(strata.values()))},
    }
    return ids, added, report


def pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:.1f}%" if b else "n/a"


def format_balance(report: dict) -> str:
    """The seed's balance table ([6.5/9] Balancing no-hemorrhage images in splits)."""
    b, a = report["before"], report["after"]
    lines = ["[6.5/9] Balancing no-hemorrhage images in splits...", "", "  Current balance per split:"]
    for s in SPLITS:
        lines.append(
            f"    {SPLIT_TITLES[s]}: {b[s]['no_hem']:,}/{b[s]['images']:,} no-hem "
            f"({pct(b[s]['no_hem'], b[s]['images'])}) | Need {report['shortfall'][s]:,} more"
        )
    lines += [
        f"  Total shortfall: {report['total_shortfall']:,} no-hem images",
        "",
        f"  Available in no-hem pool: {report['pool']['available']:,} images",
        f"    FP (high priority): {report['pool']['fp']:,}",
        f"    TN (low priority): {report['pool']['tn']:,}",
        "",
        f"  Distributing {sum(report['distributed'].values()):,} images:",
    ]
    lines += [f"    {SPLIT_TITLES[s]}: {report['distributed'][s]:,} images" for s in SPLITS]
    lines += ["", "  Final balance after distribution:"]
    lines += [
        f"    {SPLIT_TITLES[s]}: {a[s]['no_hem']:,}/{a[s]['images']:,} no-hem ({pct(a[s]['no_hem'], a[s]['images'])})"
        for s in SPLITS
    ]
    tn, ti = sum(a[s]["no_hem"] for s in SPLITS), sum(a[s]["images"] for s in SPLITS)
    lines += ["", f"  Overall: {tn:,}/{ti:,} no-hem ({pct(tn, ti)})"]
    return "\n".join(lines)
