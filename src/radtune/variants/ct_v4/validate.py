"""The seed's eight validation checks, and radtune's image leakage check, over the final 6-class and 4-class datasets.

1 COCO format (pycocotools loads every split; ids unique, references resolve)
2 every class present in every split
3 zero patient overlap between splits
4 every image readable, with the size its entry states
5 100% valid boxes (inside the image, width and height >= 1 px)
6 augmentation multiplier exactly ``multiplier`` on train (each copy's original present;
  no augmented image in val/test)
7 no-hemorrhage share within ``tolerance`` of ``target`` in every split
8 4-class: every image is a relative symlink resolving into the 6-class folder of the same
  split, no EDH/HC category or box left, the other boxes all kept
9 (radtune's, beyond the seed's eight) no identical and no near-duplicate images across
  splits (``radtune.leakage``: pixel hash, perceptual hash confirmed by correlation)

``validate`` returns a JSON-able report; ``format_report`` prints it like the seed;
``exit_code`` is 0 only when every check passed.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections import Counter
from pathlib import Path

from radtune.errors import ConfigError
from radtune.imaging import read_image
from radtune.io import read_json
from radtune.leakage import fingerprint, image_leak_messages, leakage_report, overlap_counts, patients_by_split
from radtune.variants.ct_v4.coco import annotations_by_image, class_names
from radtune.variants.ct_v4.constants import ANNOTATIONS_FILE, CLASSES, SPLIT_DIRS, SPLIT_TITLES, SPLITS

TITLES = {
    1: "Validating COCO format",
    2: "Checking class distribution",
    3: "Checking patient-level leakage",
    4: "Validating image files",
    5: "Validating bounding boxes",
    6: "Verifying augmentation",
    7: "Analyzing class balance",
    8: "Checking 4-class dataset",
    9: "Checking image leakage (identical / near-duplicate images across splits)",
}


def load_split(root: Path, split: str) -> dict:
    return read_json(Path(root) / SPLIT_DIRS[split] / ANNOTATIONS_FILE)


def check(n: int, lines: list[tuple[bool | None, str]], details: dict | None = None) -> dict:
    """A check result; lines with None are informational."""
    return {
        "id": n,
        "title": TITLES[n],
        "passed": all(ok is not False for ok, _ in lines),
        "lines": [{"ok": ok, "text": t} for ok, t in lines],
        "details": details or {},
    }


def coco_problems(path: Path) -> list[str]:
    """pycocotools must load the file; ids unique; annotation references resolve."""
    from pycocotools.coco import COCO

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(str(path))
    except Exception as e:  # noqa: BLE001  pycocotools raises plain AssertionError/KeyError/...
        return [f"pycocotools cannot load it: {type(e).__name__}: {e}"]
    problems = []
    doc = coco.dataset
    img_ids = [im["id"] for im in doc["images"]]
    ann_ids = [a["id"] for a in doc["annotations"]]
    cat_ids = {c["id"] for c in doc["categories"]}
    if len(set(img_ids)) != len(img_ids):
        problems.append("duplicate image ids")
    if len(set(ann_ids)) != len(ann_ids):
        problems.append("duplicate annotation ids")
    if any(a["image_id"] not in coco.imgs for a in doc["annotations"]):
        problems.append("annotation image_id not in images")
    if any(a["category_id"] not in cat_ids for a in doc["annotations"]):
        problems.append("annotation category_id not in categories")
    return problems


def check_coco(root: Path) -> dict:
    lines, details = [], {}
    for s in SPLITS:
        probs = coco_problems(Path(root) / SPLIT_DIRS[s] / ANNOTATIONS_FILE)
        details[s] = probs
        lines.append(
            (not probs, f"{SPLIT_TITLES[s]} annotations {'valid' if not probs else 'INVALID: ' + '; '.join(probs)}")
        )
    return check(1, lines, details)


def check_classes(docs: dict[str, dict], classes: tuple[str, ...]) -> dict:
    lines, details = [], {}
    for s in SPLITS:
        names = class_names(docs[s])
        present = Counter(names[a["category_id"]] for a in docs[s]["annotations"])
        missing = [c for c in classes if present[c] == 0]
        details[s] = {c: present[c] for c in classes}
        lines.append(
            (
                not missing,
                f"All {len(classes)} classes present in {SPLIT_TITLES[s].lower()}"
                if not missing
                else f"{SPLIT_TITLES[s]}: missing {', '.join(missing)}",
            )
        )
    return check(2, lines, details)


def check_leakage(docs: dict[str, dict]) -> dict:
    details = overlap_counts(patients_by_split((s, im["patient_id"]) for s in SPLITS for im in docs[s]["images"]))
    lines = []
    for pair, n in details.items():
        a, b = pair.split("/")
        lines.append(
            (n == 0, f"{'No' if n == 0 else 'LEAK:'} {SPLIT_TITLES[a]}/{SPLIT_TITLES[b]} overlap ({n} patients)")
        )
    missing = sum(1 for s in SPLITS for im in docs[s]["images"] if not im.get("patient_id"))
    if missing:
        lines.append((False, f"{missing} images without patient_id"))
    return check(3, lines, details)


def check_images(root: Path, docs: dict[str, dict]) -> dict:
    lines, details = [], {}
    for s in SPLITS:
        bad = []
        for im in docs[s]["images"]:
            img = read_image(Path(root) / SPLIT_DIRS[s] / im["file_name"])
            if img is None or img.shape[:2] != (im["height"], im["width"]):
                bad.append(im["file_name"])
        n = len(docs[s]["images"])
        details[s] = {"readable": n - len(bad), "total": n, "bad": bad[:20]}
        lines.append((not bad, f"{SPLIT_TITLES[s]}: {n - len(bad):,}/{n:,} images readable"))
    return check(4, lines, details)


def box_valid(bbox: list[float], width: int, height: int) -> bool:
    x, y, w, h = bbox
    eps = 1e-6
    return w >= 1 and h >= 1 and x >= -eps and y >= -eps and x + w <= width + eps and y + h <= height + eps


def check_boxes(docs: dict[str, dict]) -> dict:
    lines, details = [], {}
    for s in SPLITS:
        size = {im["id"]: (im["width"], im["height"]) for im in docs[s]["images"]}
        anns = docs[s]["annotations"]
        ok = sum(1 for a in anns if a["image_id"] in size and box_valid(a["bbox"], *size[a["image_id"]]))
        share = 100.0 * ok / len(anns) if anns else 100.0
        details[s] = {"valid": ok, "total": len(anns)}
        lines.append((ok == len(anns), f"{SPLIT_TITLES[s]}: {ok:,}/{len(anns):,} boxes valid ({share:.1f}%)"))
    return check(5, lines, details)


def check_augmentation(docs: dict[str, dict], multiplier: int) -> dict:
    train = docs["train"]["images"]
    originals = [im for im in train if not im.get("augmented_from")]
    names = {im["file_name"] for im in originals}
    orphans = [im["file_name"] for im in train if im.get("augmented_from") and im["augmented_from"] not in names]
    per_original = Counter(im["augmented_from"] for im in train if im.get("augmented_from"))
    uneven = [n for n in names if per_original[n] != multiplier - 1]
    leaked = {s: sum(1 for im in docs[s]["images"] if im.get("augmented_from")) for s in ("val", "test")}
    factor = len(train) / len(originals) if originals else 0.0
    lines = [
        (factor == float(multiplier) and not uneven, f"Augmentation multiplier: {factor:.1f}x"),
        (None, f"Original images: {len(originals):,}"),
        (None, f"Total after augmentation: {len(train):,}"),
    ]
    if orphans:
        lines.append((False, f"{len(orphans)} augmented images without their original"))
    if any(leaked.values()):
        lines.append((False, f"augmented images outside train: {leaked}"))
    return check(
        6,
        lines,
        {
            "multiplier": factor,
            "originals": len(originals),
            "total": len(train),
            "orphans": len(orphans),
            "uneven": len(uneven),
            "augmented_outside_train": leaked,
        },
    )


def no_hem_counts(doc: dict) -> tuple[int, int]:
    by_image = annotations_by_image(doc)
    return sum(1 for anns in by_image.values() if not anns), len(doc["images"])


def check_balance(docs: dict[str, dict], target: float, tolerance: float) -> dict:
    lines: list[tuple[bool | None, str]] = [(None, "No-hemorrhage images:")]
    details, ok_all = {}, True
    for s in SPLITS:
        nh, n = no_hem_counts(docs[s])
        share = nh / n if n else 0.0
        ok = abs(share - target) <= tolerance
        ok_all &= ok
        details[s] = {"no_hem": nh, "images": n, "share": round(share, 4)}
        lines.append((None if ok else False, f"  {SPLIT_TITLES[s]}: {nh:,}/{n:,} ({100 * share:.1f}%)"))
    lines.append(
        (
            ok_all,
            f"All splits near {100 * target:.0f}% target"
            if ok_all
            else f"Some splits are further than {100 * tolerance:.0f} points from {100 * target:.0f}%",
        )
    )
    return check(7, lines, details)


def check_subset(six: Path, four: Path, six_docs: dict[str, dict], drop_classes: list[str], empty_images: str) -> dict:
    problems: list[str] = []
    links = 0
    four_docs = {}
    for s in SPLITS:
        path = Path(four) / SPLIT_DIRS[s] / ANNOTATIONS_FILE
        if not path.is_file():
            problems.append(f"{SPLIT_DIRS[s]}/{ANNOTATIONS_FILE} missing")
            continue
        probs = coco_problems(path)
        problems += [f"{SPLIT_DIRS[s]}: {p}" for p in probs]
        doc = four_docs[s] = read_json(path)
        target_dir = (Path(six) / SPLIT_DIRS[s]).resolve()
        for im in doc["images"]:
            link = Path(four) / SPLIT_DIRS[s] / im["file_name"]
            if not link.is_symlink():
                problems.append(f"{SPLIT_DIRS[s]}/{im['file_name']}: not a symlink")
            elif os.path.isabs(os.readlink(link)):
                problems.append(f"{SPLIT_DIRS[s]}/{im['file_name']}: absolute symlink")
            elif not link.exists() or link.resolve().parent != target_dir:
                problems.append(
                    f"{SPLIT_DIRS[s]}/{im['file_name']}: does not resolve into the 6-class {SPLIT_DIRS[s]}/"
                )
            else:
                links += 1
    symlinks_ok = not problems
    filtered: list[str] = []
    for s, doc in four_docs.items():
        names = {c["name"] for c in doc["categories"]}
        if names & set(drop_classes):
            filtered.append(f"{SPLIT_DIRS[s]}: categories {sorted(names & set(drop_classes))} still present")
        six_names = class_names(six_docs[s])
        expected = sum(1 for a in six_docs[s]["annotations"] if six_names[a["category_id"]] not in drop_classes)
        if len(doc["annotations"]) != expected:
            filtered.append(f"{SPLIT_DIRS[s]}: {len(doc['annotations'])} boxes, expected {expected}")
        if empty_images == "keep" and len(doc["images"]) != len(six_docs[s]["images"]):
            filtered.append(f"{SPLIT_DIRS[s]}: {len(doc['images'])} images, expected {len(six_docs[s]['images'])}")
    lines = [
        (
            symlinks_ok,
            f"Symlinks valid ({links:,} relative links)" if symlinks_ok else f"Symlink problems: {len(problems)}",
        ),
        (
            not filtered and len(four_docs) == len(SPLITS),
            f"{'/'.join(drop_classes)} filtered correctly" if not filtered else "; ".join(filtered),
        ),
    ]
    return check(8, lines, {"links": links, "problems": problems[:20], "filter_problems": filtered})


def check_image_leakage(six: Path, docs: dict[str, dict], max_distance: int, min_correlation: float) -> dict:
    """The shared leakage check (radtune.leakage) over every image of the 6-class dataset."""
    published = [
        {
            "image_id": Path(im["file_name"]).stem,
            "image_path": f"{SPLIT_DIRS[s]}/{im['file_name']}",
            "patient_id": im["patient_id"],
            "split": s,
        }
        for s in SPLITS
        for im in docs[s]["images"]
    ]
    try:
        records, thumbs = fingerprint(published, Path(six))
    except ConfigError as e:  # an unreadable image: check 4 names every one
        return check(9, [(False, f"not checked: {e}")])
    report = leakage_report(records, max_distance, min_correlation, thumbs)
    lines = [
        (not report["exact_duplicates"], f"{len(report['exact_duplicates'])} identical images across splits"),
        (
            not report["near_duplicates"],
            f"{len(report['near_duplicates'])} near-duplicate pairs across splits (phash distance <= "
            f"{max_distance}, correlation >= {min_correlation})",
        ),
    ]
    lines += [(False, line) for line in image_leak_messages(report)]
    return check(
        9,
        lines,
        {
            k: report[k]
            for k in ("exact_duplicates", "near_duplicates", "phash_max_distance", "near_duplicate_min_correlation")
        },
    )


def validate(
    six: Path,
    four: Path,
    *,
    classes: tuple[str, ...] = CLASSES,
    multiplier: int = 3,
    target: float = 0.5,
    tolerance: float = 0.05,
    drop_classes: list[str] | None = None,
    empty_images: str = "keep",
    phash_max_distance: int = 4,
    near_duplicate_min_correlation: float = 0.98,
) -> dict:
    """Run the nine checks; a split file that cannot be read fails check 1 and stops."""
    drop = list(drop_classes or ["EDH", "HC"])
    c1 = check_coco(six)
    if not c1["passed"]:
        return {"passed": False, "checks": [c1]}
    docs = {s: load_split(six, s) for s in SPLITS}
    checks = [
        c1,
        check_classes(docs, classes),
        check_leakage(docs),
        check_images(six, docs),
        check_boxes(docs),
        check_augmentation(docs, multiplier),
        check_balance(docs, target, tolerance),
        check_subset(six, four, docs, drop, empty_images),
        check_image_leakage(six, docs, phash_max_distance, near_duplicate_min_correlation),
    ]
    return {"passed": all(c["passed"] for c in checks), "checks": checks}


def format_report(report: dict) -> str:
    bar = "=" * 80
    out = [bar, "V4 DATASET VALIDATION REPORT", bar]
    for c in report["checks"]:
        out += ["", f"[{c['id']}/{len(TITLES)}] {c['title']}..."]
        for line in c["lines"]:
            mark = {True: "[OK]  ", False: "[FAIL]", None: "      "}[line["ok"]]
            out.append(f"  {mark} {line['text']}")
    out += [
        "",
        bar,
        "VALIDATION PASSED - Dataset ready for training!"
        if report["passed"]
        else "VALIDATION FAILED - see the [FAIL] lines above",
        bar,
    ]
    return "\n".join(out)


def exit_code(report: dict) -> int:
    """0 when every check passed, 1 otherwise (for the stage script's sys.exit)."""
    return 0 if report.get("passed") else 1
