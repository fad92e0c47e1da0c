"""augment: the seed's final layout (processed/<split>/, annotations/<split>_annotations.json,
processing_log.json) with seeded train-only augmentation, plus dataset metrics and plots."""

import argparse
from pathlib import Path

from radtune.augment import SPLITS, annotations, lay_out, processing_log
from radtune.io import write_json
from radtune.params import load_params
from radtune.records import read_records
from radtune.stagelog import run, stage_log
from radtune.stats import age_histogram, dataset_metrics, fracture_types


def main() -> int | None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=Path, required=True, help="stratify's records (JSON)")
    ap.add_argument("--images", type=Path, required=True, help="normalize's image folder")
    ap.add_argument("--data-dir", type=Path, required=True, help="root of processed/ and the image paths")
    ap.add_argument("--annotations", type=Path, required=True)
    ap.add_argument("--log", type=Path, required=True, help="processing_log.json")
    ap.add_argument("--metrics", type=Path, required=True)
    ap.add_argument("--plots", type=Path, required=True)
    args = ap.parse_args()

    p = load_params()
    with stage_log("augment") as records:
        records += read_records(args.records)
        images = lay_out(records, args.images, args.data_dir, p.dataset.augment, p.seed, p.dataset.normalize.jpeg_quality)
        for split in SPLITS:
            write_json(args.annotations / f"{split}_annotations.json", annotations(images, split))
        log = processing_log(records)
        write_json(args.log, log)
        write_json(args.metrics, dataset_metrics(images, log))
        write_json(args.plots / "age_histogram.json", age_histogram(images))
        write_json(args.plots / "fracture_types.json", fracture_types(images))


if __name__ == "__main__":
    run(main)
