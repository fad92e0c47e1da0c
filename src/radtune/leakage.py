"""The leakage-check stage's library: nothing of the test or val set may be seen in training.

It checks the published dataset (after augmentation, so an augmented copy is checked
too): a patient (pseudonym) in two splits; the same pixels in two splits; near
duplicates (perceptual hash, confirmed by pixel correlation) in two splits."""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import partial
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np

from radtune.errors import ConfigError
from radtune.executor import map_in_order, reraise
from radtune.fingerprint import correlation, hamming_matrix, phash, pixel_sha256, thumbnail
from radtune.io import write_json
from radtune.records import SPLITS, Record, ok


def patients_by_split(items: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """split -> the patients with an image in it, from (split, patient_id) pairs."""
    out: dict[str, set[str]] = {s: set() for s in SPLITS}
    for split, patient in items:
        out[split].add(patient)
    return out


def overlap_counts(patients: Mapping[str, set[str]]) -> dict[str, int]:
    """ "<a>/<b>" -> the number of patients in both splits, for every pair of splits."""
    return {f"{a}/{b}": len(patients[a] & patients[b]) for a, b in combinations(SPLITS, 2)}


def patient_overlap(records: list[Record]) -> list[dict]:
    splits_of: dict[str, set[str]] = defaultdict(set)
    images_of: dict[str, list[str]] = defaultdict(list)
    for r in records:
        splits_of[r["patient_id"]].add(r["split"])
        images_of[r["patient_id"]].append(r["image_id"])
    return [
        {"patient_id": p, "splits": sorted(s, key=SPLITS.index), "image_ids": sorted(images_of[p])}
        for p, s in sorted(splits_of.items())
        if len(s) > 1
    ]


def exact_duplicates(records: list[Record]) -> list[dict]:
    groups: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        groups[r["pixel_sha256"]].append(r)
    return [
        {
            "pixel_sha256": h,
            "splits": sorted({r["split"] for r in g}, key=SPLITS.index),
            "image_ids": sorted(r["image_id"] for r in g),
        }
        for h, g in sorted(groups.items())
        if len({r["split"] for r in g}) > 1
    ]


def _fingerprint_one(image_path: str, data_dir: Path) -> tuple[str, str, np.ndarray]:
    """(pixel_sha256, phash, thumbnail) of one published image."""
    image = cv2.imread(str(data_dir / image_path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ConfigError(f"{data_dir / image_path}: image listed in the annotations cannot be read")
    return pixel_sha256(image), phash(image), thumbnail(image)


def fingerprint(annotations: list[Record], data_dir: Path, jobs: int = 1) -> tuple[list[Record], dict[str, np.ndarray]]:
    """The annotation records with pixel_sha256 and phash of their image, and the images'
    thumbnails by image_id (read in `jobs` local processes). An image that cannot be read
    is a ConfigError naming it."""
    work = partial(_fingerprint_one, data_dir=data_dir)
    paths = [r["image_path"] for r in annotations]
    prints = map_in_order(work, paths, on_error=reraise, jobs=jobs, desc="leakage-check", unit="img")
    records, thumbs = [], {}
    for (sha, ph, thumb), r in zip(prints, annotations, strict=True):
        records.append({**r, "status": "ok", "pixel_sha256": sha, "phash": ph})
        thumbs[r["image_id"]] = thumb
    return records, thumbs


def near_duplicates(
    records: list[Record], max_distance: int, min_correlation: float, thumbs: Mapping[str, np.ndarray]
) -> list[dict]:
    """Pairs in different splits whose perceptual hashes differ in <= max_distance bits
    and whose thumbnails correlate >= min_correlation; the second test keeps
    different radiographs of similar anatomy from counting. Exact pixel duplicates are
    reported by exact_duplicates, not again here."""
    by_split = {s: sorted((r for r in records if r["split"] == s), key=lambda r: r["image_id"]) for s in SPLITS}
    pairs = []
    for a, b in combinations(SPLITS, 2):
        ra, rb = by_split[a], by_split[b]
        dist = hamming_matrix([r["phash"] for r in ra], [r["phash"] for r in rb])
        for i, j in zip(*(dist <= max_distance).nonzero()):
            if ra[i]["pixel_sha256"] == rb[j]["pixel_sha256"]:
                continue
            corr = correlation(thumbs[ra[i]["image_id"]], thumbs[rb[j]["image_id"]])
            if corr >= min_correlation:
                pairs.append(
                    {
                        "splits": [a, b],
                        "image_ids": [ra[i]["image_id"], rb[j]["image_id"]],
                        "patient_ids": [ra[i]["patient_id"], rb[j]["patient_id"]],
                        "distance": int(dist[i, j]),
                        "correlation": round(corr, 4),
                    }
                )
    return pairs


def leakage_report(
    records: list[Record], max_distance: int, min_correlation: float, thumbs: Mapping[str, np.ndarray]
) -> dict:
    kept = ok(records)
    report = {
        "images": len(kept),
        "per_split": {s: sum(r["split"] == s for r in kept) for s in SPLITS},
        "patients": len({r["patient_id"] for r in kept}),
        "phash_max_distance": max_distance,
        "near_duplicate_min_correlation": min_correlation,
        "patient_overlap": patient_overlap(kept),
        "exact_duplicates": exact_duplicates(kept),
        "near_duplicates": near_duplicates(kept, max_distance, min_correlation, thumbs),
    }
    report["passed"] = not (report["patient_overlap"] or report["exact_duplicates"] or report["near_duplicates"])
    return report


def _named(image_id: str, names: Mapping[str, str] | None) -> str:
    """An image id, followed by its input file when `names` (image_id -> file) knows it."""
    return f"{image_id} ({names[image_id]})" if names and image_id in names else image_id


def image_leak_messages(report: dict, names: Mapping[str, str] | None = None) -> list[str]:
    """One line per identical or near-duplicate image pair across splits; `names` (image_id ->
    the input file, relative to the raw folder) adds the user's file names."""
    lines = [
        f"identical pixels in {' and '.join(d['splits'])}: images {', '.join(_named(i, names) for i in d['image_ids'])}"
        for d in report["exact_duplicates"]
    ]
    lines += [
        f"near-duplicate images (phash distance {d['distance']}, correlation {d['correlation']}) in "
        f"{d['splits'][0]} and {d['splits'][1]}: {_named(d['image_ids'][0], names)} (patient {d['patient_ids'][0]}), "
        f"{_named(d['image_ids'][1], names)} (patient {d['patient_ids'][1]})"
        for d in report["near_duplicates"]
    ]
    return lines


def leak_messages(report: dict, names: Mapping[str, str] | None = None) -> list[str]:
    """One line per leak, naming the patient pseudonym or the images (and with `names`, see
    image_leak_messages, the input files)."""
    lines = []
    for p in report["patient_overlap"]:
        files = sorted(names[i] for i in p["image_ids"] if i in names) if names else []
        listed = f": {', '.join(files)}" if files else ""
        lines.append(
            f"patient {p['patient_id']} appears in {' and '.join(p['splits'])} ({len(p['image_ids'])} images{listed})"
        )
    return lines + image_leak_messages(report, names)


def check_published(
    published: list[Record],
    data_dir: Path,
    leak: Mapping,
    report: Path,
    names: Mapping[str, str],
    scope: str = "",
    jobs: int = 1,
) -> bool:
    """The leakage-check of a published dataset (its annotation records, images under
    `data_dir`; `leak`: phash_max_distance, near_duplicate_min_correlation): write `report`,
    print one `LEAK:` line per leak (`names`: image_id -> input file) and the summary line
    (`scope`, e.g. " over 3 tasks", after the patient count); True when it passed. The
    images are read in `jobs` local processes."""
    records, thumbs = fingerprint(published, data_dir, jobs)
    result = leakage_report(records, leak["phash_max_distance"], leak["near_duplicate_min_correlation"], thumbs)
    write_json(report, result)
    for line in leak_messages(result, names):
        print(f"leakage-check: LEAK: {line}", file=sys.stderr)
    print(
        f"leakage-check: {result['images']} images, {result['patients']} patients{scope}, "
        f"{'passed' if result['passed'] else 'FAILED'}",
        flush=True,
    )
    return bool(result["passed"])
