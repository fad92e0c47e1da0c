"""Analysis of the final ct_v4 datasets: class distribution per split, images per class,
hemorrhage status, patients per split; the per-image CSV export
(``v4_dataset_6class.csv`` / ``v4_dataset_4class.csv``) and rows for DVC plots.

Nothing here reads a DICOM header: only the pseudonymous COCO files.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

from radtune.io import write_text_atomic
from radtune.leakage import overlap_counts, patients_by_split
from radtune.variants.ct_v4.coco import annotations_by_image, class_names
from radtune.variants.ct_v4.constants import SPLIT_DIRS, SPLIT_TITLES, SPLITS
from radtune.variants.ct_v4.validate import load_split


def class_list(doc: dict) -> list[str]:
    return [c["name"] for c in sorted(doc["categories"], key=lambda c: c["id"])]


def split_stats(doc: dict) -> dict:
    """Counts of one split's COCO document."""
    names = class_names(doc)
    classes = class_list(doc)
    by_image = annotations_by_image(doc)
    ann = Counter(names[a["category_id"]] for a in doc["annotations"])
    img = Counter(c for anns in by_image.values() for c in {names[a["category_id"]] for a in anns})
    originals = sum(1 for im in doc["images"] if not im.get("augmented_from"))
    no_hem = sum(1 for anns in by_image.values() if not anns)
    return {
        "images": len(doc["images"]),
        "originals": originals,
        "augmented": len(doc["images"]) - originals,
        "annotations": len(doc["annotations"]),
        "annotations_per_class": {c: ann[c] for c in classes},
        "images_per_class": {c: img[c] for c in classes},
        "no_hem": no_hem,
        "with_hem": len(doc["images"]) - no_hem,
        "patients": len({im["patient_id"] for im in doc["images"]}),
    }


def original_stats(docs: dict[str, dict]) -> dict:
    """Over the original (non-augmented) images of every split."""
    classes = class_list(docs["train"])
    total = with_hem = 0
    per_class: Counter = Counter()
    for doc in docs.values():
        names = class_names(doc)
        by_image = annotations_by_image(doc)
        for im in doc["images"]:
            if im.get("augmented_from"):
                continue
            present = {names[a["category_id"]] for a in by_image[im["id"]]}
            total += 1
            with_hem += bool(present)
            per_class.update(present)
    return {
        "images": total,
        "with_hem": with_hem,
        "no_hem": total - with_hem,
        "images_per_class": {c: per_class[c] for c in classes},
    }


def analyze(root: Path) -> dict:
    """Everything the seed's analysis prints, for one dataset folder."""
    docs = {s: load_split(root, s) for s in SPLITS}
    patients = patients_by_split((s, im["patient_id"]) for s in SPLITS for im in docs[s]["images"])
    overlaps = overlap_counts(patients)
    return {
        "classes": class_list(docs["train"]),
        "splits": {s: split_stats(docs[s]) for s in SPLITS},
        "originals": original_stats(docs),
        "patients": {s: len(patients[s]) for s in SPLITS},
        "total_patients": len(set().union(*patients.values())),
        "overlaps": overlaps,
    }


def _pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:.1f}%" if b else "n/a"


def format_analysis(a: dict, negative_label: str = "NO hemorrhages") -> str:
    """The seed's printout. For the 4-class set pass negative_label="none of the 4 classes"."""
    bar = "=" * 80
    out = [bar, "V4 DATASET - CLASS DISTRIBUTION (Including No-Hemorrhage Images)", bar]
    for s in SPLITS:
        st = a["splits"][s]
        out += ["", f"{SPLIT_DIRS[s].upper()} SPLIT:"]
        if s == "train" and st["augmented"]:
            out += [
                f"  Total images: {st['images']:,} (after {st['images'] / max(1, st['originals']):.0f}x augmentation)",
                f"  Original (before augmentation): {st['originals']:,}",
                f"    Augmented (_aug suffix): {st['augmented']:,}",
            ]
        else:
            out.append(f"  Total images: {st['images']:,}")
        out += [f"  Total annotations: {st['annotations']:,}", "", "  Class Distribution (Annotations):"]
        out += [f"    {c}: {n:,} annotations" for c, n in st["annotations_per_class"].items()]
        out += ["", "  Class Distribution (Images with each class):"]
        out += [f"    {c}: {n:,} images" for c, n in st["images_per_class"].items()]
        out += [
            "",
            "  Hemorrhage Status:",
            f"    Images with {negative_label}: {st['no_hem']:,} "
            f"({_pct(st['no_hem'], st['images'])} of total {SPLIT_DIRS[s]})",
            f"    Images WITH hemorrhages: {st['with_hem']:,} "
            f"({_pct(st['with_hem'], st['images'])} of total {SPLIT_DIRS[s]})",
        ]
    o = a["originals"]
    out += [
        "",
        bar,
        "ORIGINAL IMAGES SUMMARY (Before Augmentation)",
        bar,
        f"Total original images: {o['images']:,}",
        f"  With hemorrhages: {o['with_hem']:,} ({_pct(o['with_hem'], o['images'])})",
        f"  Without hemorrhages: {o['no_hem']:,} ({_pct(o['no_hem'], o['images'])})",
        "",
        "Original images by class:",
    ]
    for c, n in sorted(o["images_per_class"].items(), key=lambda kv: (-kv[1], kv[0])):
        out.append(f"  {c}: {n:,} images ({_pct(n, o['images'])})")
    out += ["", bar, "PATIENT STATISTICS", bar]
    out += [f"{SPLIT_TITLES[s]}: {a['patients'][s]:,} unique patients" for s in SPLITS]
    out += ["", f"Total unique patients: {a['total_patients']:,}", ""]
    for pair, n in a["overlaps"].items():
        x, y = (SPLIT_TITLES[k] for k in pair.split("/"))
        out.append(f"{'OK' if n == 0 else 'LEAK'}: {'No' if n == 0 else n} {x}/{y} patient overlap")
    return "\n".join(out)


def csv_rows(root: Path) -> list[dict]:
    """One row per image of every split (no PHI: pseudonymous names and patients)."""
    rows = []
    for s in SPLITS:
        doc = load_split(root, s)
        names = class_names(doc)
        classes = class_list(doc)
        by_image = annotations_by_image(doc)
        for im in doc["images"]:
            present = Counter(names[a["category_id"]] for a in by_image[im["id"]])
            rows.append(
                {
                    "split": SPLIT_DIRS[s],
                    "image_id": im["id"],
                    "file_name": im["file_name"],
                    "patient_id": im["patient_id"],
                    "width": im["width"],
                    "height": im["height"],
                    "augmented": bool(im.get("augmented_from")),
                    "augmented_from": im.get("augmented_from") or "",
                    "origin": im.get("origin") or "",
                    "feedback": im.get("feedback") or "",
                    "n_annotations": sum(present.values()),
                    "has_hemorrhage": bool(present),
                    "classes": ";".join(c for c in classes if present[c]),
                    **{f"n_{c}": present[c] for c in classes},
                }
            )
    return rows


def csv_text(rows: list[dict]) -> str:
    if not rows:
        return ""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def write_csv(path: Path, rows: list[dict]) -> None:
    write_text_atomic(path, csv_text(rows))


def plot_rows(analyses: dict[str, dict]) -> list[dict]:
    """Rows for a DVC bar plot (x=class, y=images or annotations), one per
    (dataset, split, class): ``analyses`` is {"6class": analyze(...), "4class": ...}."""
    rows = []
    for name, a in analyses.items():
        for s in SPLITS:
            st = a["splits"][s]
            for c in a["classes"]:
                rows.append(
                    {
                        "dataset": name,
                        "split": SPLIT_DIRS[s],
                        "class": c,
                        "images": st["images_per_class"][c],
                        "annotations": st["annotations_per_class"][c],
                    }
                )
            rows.append(
                {"dataset": name, "split": SPLIT_DIRS[s], "class": "none", "images": st["no_hem"], "annotations": 0}
            )
    return rows


def plot_tables(a: dict) -> dict[str, list[dict]]:
    """DVC plot data for one dataset's analysis, one file per split, rows {category,
    count}: images per class and images with no hemorrhage ("none")."""
    return {
        f"class_images_{s}.json": [
            {"category": c, "count": a["splits"][s]["images_per_class"][c]} for c in a["classes"]
        ]
        + [{"category": "none", "count": a["splits"][s]["no_hem"]}]
        for s in SPLITS
    }


def dataset_metrics(a: dict) -> dict:
    """The DVC metrics of the final 6-class dataset: per split images, originals,
    annotations, patients and no-hemorrhage share."""

    def split(st: dict) -> dict:
        return {
            "images": st["images"],
            "originals": st["originals"],
            "annotations": st["annotations"],
            "patients": st["patients"],
            "no_hem_share": round(st["no_hem"] / st["images"], 4) if st["images"] else None,
        }

    return {
        "all": {
            "originals": a["originals"]["images"],
            "patients": a["total_patients"],
            "no_hem_share": round(a["originals"]["no_hem"] / a["originals"]["images"], 4),
        },
        **{s: split(a["splits"][s]) for s in SPLITS},
    }
