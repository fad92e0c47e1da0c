"""augment: the final layout with seeded train-only augmentation, plus dataset metrics and
plot data. pedirad: processed/<split>/, annotations/<split>_annotations.json,
processing_log.json (radtune.augment). ct_coco: 6class_coco/ (bbox-aware 3x train),
4class_coco/ (relative symlinks), metadata/ (analysis + CSV export)."""

import argparse
import shutil
from pathlib import Path

from radtune.io import write_json
from radtune.params import load_params
from radtune.stagelog import run


def write_plots(folder: Path, tables: dict[str, list[dict]]) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    for name, rows in tables.items():
        write_json(folder / name, rows)


def main() -> int | None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--normalized", type=Path, required=True, help="normalize's output folder")
    ap.add_argument("--split", type=Path, required=True, help="stratify's output")
    ap.add_argument("--data-dir", type=Path, required=True, help="root that image paths are relative to")
    ap.add_argument("--final", type=Path, nargs=3, required=True, help="the three final outputs (dataset.layout.final)")
    ap.add_argument("--metrics", type=Path, required=True)
    ap.add_argument("--plots", type=Path, required=True, help="folder of plot data")
    args = ap.parse_args()

    p = load_params()
    if p.dataset.kind == "ct_coco":
        from radtune.ct import analysis
        from radtune.ct.stages import stage_analysis, stage_augment, stage_subset

        six, meta, four = args.final
        stage_augment(p.dataset, splits_dir=args.split, normalized_dir=args.normalized, out_dir=six, seed=p.seed)
        stage_subset(p.dataset, six_dir=six, out_dir=four)
        result = stage_analysis(p.dataset, six_dir=six, four_dir=four, out_dir=meta)
        write_json(args.metrics, analysis.dataset_metrics(result["6class"]))
        write_plots(args.plots, analysis.plot_tables(result["6class"]))
        return None

    from radtune.augment import SPLITS, annotations, lay_out, processing_log
    from radtune.records import read_records
    from radtune.stagelog import stage_log
    from radtune.stats import dataset_metrics, plot_tables

    processed, annotations_dir, log_path = args.final
    with stage_log("augment") as records:
        records += read_records(args.split)
        images = lay_out(records, args.normalized / "images", processed, args.data_dir, p.dataset.augment, p.seed,
                         p.dataset.normalize.jpeg_quality)
        for split in SPLITS:
            write_json(annotations_dir / f"{split}_annotations.json", annotations(images, split))
        log = processing_log(records)
        write_json(log_path, log)
        write_json(args.metrics, dataset_metrics(images, log))
        write_plots(args.plots, plot_tables(images))
    return None


if __name__ == "__main__":
    run(main)
