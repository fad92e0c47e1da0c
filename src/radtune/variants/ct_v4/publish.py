"""The ct_v4 augment stage: the 6-class dataset with bbox-aware train copies, the 4-class
symlinked subset, the analysis and CSV export (metadata/), dataset metrics and plot data.

  6class_coco/   {train,valid,test}/{<id>.png, <id>_aug<i>.png, _annotations.coco.json},
                 metadata.yaml
  4class_coco/   same, images are relative symlinks into 6class_coco
  metadata/      v4_dataset_6class.csv, v4_dataset_4class.csv, analysis.json,
                 class_distribution.csv (DVC plot data)
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from omegaconf import DictConfig

from radtune.errors import ConfigError
from radtune.figures import distributions_png
from radtune.imaging import encode_image
from radtune.io import read_json, write_bytes_atomic, write_json, write_text_atomic
from radtune.shards import Shards
from radtune.stagelog import print_summary
from radtune.variants.ct_v4 import analysis as an
from radtune.variants.ct_v4 import coco, subset, validate
from radtune.variants.ct_v4.bbox_augment import aug_name, augment_copy, build_transform
from radtune.variants.ct_v4.constants import ANNOTATIONS_FILE, CLASSES, SPLIT_DIRS, SPLITS


def write_metadata(path: Path, classes: list[str], counts: dict[str, int], extra: dict | None = None) -> None:
    meta = {
        "names": list(classes),
        "nc": len(classes),
        "splits": {SPLIT_DIRS[k]: counts[k] for k in SPLITS},
        "annotations": ANNOTATIONS_FILE,
        **(extra or {}),
    }
    write_text_atomic(path, yaml.safe_dump(meta, sort_keys=True))


def stage_augment(cfg: DictConfig, *, splits_dir: Path, normalized_dir: Path, out_dir: Path, seed: int) -> dict:
    """The 6-class dataset ``out_dir/{train,valid,test}/`` (images + _annotations.coco.json)
    + ``out_dir/metadata.yaml``: train x ``augment.multiplier`` with bbox-aware copies,
    val/test copied untouched."""
    started = time.perf_counter()
    a = cfg.augment
    mult = int(a.multiplier)
    if mult < 1:
        raise ConfigError(f"augment.multiplier: must be an integer >= 1, got {mult}")
    transform = build_transform(a)
    normalized = Shards(Path(normalized_dir) / "images")
    counts, lost, retried = {}, 0, 0
    for k in SPLITS:
        doc = read_json(Path(splits_dir) / f"{SPLIT_DIRS[k]}.coco.json")
        dest = Path(out_dir) / SPLIT_DIRS[k]
        by_image = coco.annotations_by_image(doc)
        images, anns = [], []
        for im in doc["images"]:
            write_bytes_atomic(dest / im["file_name"], normalized.read(im["file_name"]))
            images.append({**im, "augmented_from": None})
            anns += by_image[im["id"]]
            if k != "train" or mult == 1:
                continue
            pixels_ = normalized.image(im["file_name"])
            boxes = [x["bbox"] for x in by_image[im["id"]]]
            cats = [x["category_id"] for x in by_image[im["id"]]]
            for i in range(1, mult):
                out = augment_copy(pixels_, boxes, cats, transform, seed, im["file_name"], i, int(a.max_tries))
                lost += out.lost
                retried += out.attempts > 1
                name = aug_name(im["file_name"], i)
                write_bytes_atomic(dest / name, encode_image(out.image, "png"))
                new_id = ("aug", im["id"], i)
                images.append({**im, "id": new_id, "file_name": name, "augmented_from": im["file_name"]})
                anns += [
                    coco.annotation(("aug", im["id"], i, j), new_id, c, b)
                    for j, (b, c) in enumerate(zip(out.boxes, out.category_ids))
                ]
        # make ids comparable for renumber (original ids are ints, copies tuples)
        key = {im["id"]: n for n, im in enumerate(images)}
        images = [{**im, "id": key[im["id"]]} for im in images]
        anns = [{**x, "image_id": key[x["image_id"]], "id": n} for n, x in enumerate(anns)]
        images, anns = coco.renumber(images, anns)
        write_json(dest / ANNOTATIONS_FILE, coco.document(images, anns, description=f"ct-v4 6-class {SPLIT_DIRS[k]}"))
        counts[k] = len(images)
    write_metadata(
        Path(out_dir) / "metadata.yaml",
        list(CLASSES),
        counts,
        {"augmentation": {"multiplier": mult, "splits": ["train"], "boxes_lost": lost}},
    )
    print_summary("augment", started, images=counts, boxes_lost=lost, copies_redrawn=retried)
    return {"images": counts, "boxes_lost": lost, "copies_redrawn": retried}


def stage_subset(cfg: DictConfig, *, six_dir: Path, out_dir: Path) -> dict:
    """The 4-class dataset ``out_dir/{train,valid,test}/`` (relative symlinks to the 6-class
    images, filtered _annotations.coco.json) + ``out_dir/metadata.yaml``."""
    started = time.perf_counter()
    drop = list(cfg.augment.subset.drop_classes)
    counts, stats = {}, {}
    classes: list[str] = []
    for k in SPLITS:
        six = validate.load_split(six_dir, k)
        doc, st = subset.filter_classes(six, drop, cfg.augment.subset.empty_images)
        dest = Path(out_dir) / SPLIT_DIRS[k]
        for im in doc["images"]:
            subset.link_relative(Path(six_dir) / SPLIT_DIRS[k] / im["file_name"], dest / im["file_name"])
        write_json(dest / ANNOTATIONS_FILE, doc)
        counts[k], stats[k] = len(doc["images"]), st
        classes = [c["name"] for c in doc["categories"]]
    write_metadata(
        Path(out_dir) / "metadata.yaml",
        classes,
        counts,
        {
            "source": "6class_coco (relative symlinks)",
            "removed_classes": drop,
            "empty_images": str(cfg.augment.subset.empty_images),
        },
    )
    print_summary(
        "subset", started, images=counts, annotations_dropped=sum(s["annotations_dropped"] for s in stats.values())
    )
    return {"images": counts, "filtered": stats}


def stage_analysis(cfg: DictConfig, *, six_dir: Path, four_dir: Path, out_dir: Path) -> dict:
    """``out_dir/v4_dataset_6class.csv``, ``out_dir/v4_dataset_4class.csv``,
    ``out_dir/analysis.json`` and ``out_dir/class_distribution.csv`` (DVC plot data)."""
    started = time.perf_counter()
    a6, a4 = an.analyze(Path(six_dir)), an.analyze(Path(four_dir))
    print(an.format_analysis(a6))
    an.write_csv(Path(out_dir) / "v4_dataset_6class.csv", an.csv_rows(Path(six_dir)))
    an.write_csv(Path(out_dir) / "v4_dataset_4class.csv", an.csv_rows(Path(four_dir)))
    an.write_csv(Path(out_dir) / "class_distribution.csv", an.plot_rows({"6class": a6, "4class": a4}))
    result = {"6class": a6, "4class": a4}
    write_json(Path(out_dir) / "analysis.json", result)
    print_summary("analysis", started, images_6class=sum(a6["splits"][k]["images"] for k in SPLITS))
    return result


def stage_publish(
    cfg: DictConfig,
    *,
    splits_dir: Path,
    normalized_dir: Path,
    final: tuple[Path, Path, Path],
    metrics: Path,
    figure: Path,
    seed: int,
) -> dict:
    """The augment stage: the 6-class dataset, the 4-class subset, the analysis (metadata/),
    the dataset metrics and the plot data."""
    six, meta, four = final
    stage_augment(cfg, splits_dir=splits_dir, normalized_dir=normalized_dir, out_dir=six, seed=seed)
    stage_subset(cfg, six_dir=six, out_dir=four)
    result = stage_analysis(cfg, six_dir=six, four_dir=four, out_dir=meta)
    write_json(metrics, an.dataset_metrics(result["6class"]))
    distributions_png(an.plot_tables(result["6class"]), figure, f"{cfg.name}: 6-class dataset")
    return result
