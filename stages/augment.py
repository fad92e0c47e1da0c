"""augment: the published dataset (seeded train-only augmentation), dataset metrics and
plot data. The dataset metrics name the data state (radtune.datastate); model results of
another data state are removed, so no metric is shown next to data it was not computed on."""

import argparse
from pathlib import Path

from radtune import variants
from radtune.datastate import data_state, drop_results_of_other_data, stamp
from radtune.params import load_params
from radtune.stagelog import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--normalized", type=Path, required=True, help="dataset.layout.normalized")
    ap.add_argument("--split", type=Path, required=True, help="dataset.layout.split")
    ap.add_argument("--data-dir", type=Path, required=True, help="dataset.data_dir (image paths are relative to it)")
    ap.add_argument("--final", type=Path, nargs=3, required=True, help="dataset.layout.final (three paths)")
    ap.add_argument("--metrics", type=Path, required=True, help="dataset metrics JSON")
    ap.add_argument("--figure", type=Path, required=True, help="PNG figure of the dataset distributions")
    ap.add_argument(
        "--model-results",
        type=Path,
        nargs="*",
        default=[],
        help="train/eval metrics, predictions and figures: removed when they name another data state",
    )
    args = ap.parse_args()

    p = load_params()
    variants.get(p.dataset.variant).augment(
        p,
        normalized=args.normalized,
        split=args.split,
        data_dir=args.data_dir,
        final=tuple(args.final),
        metrics=args.metrics,
        figure=args.figure,
    )
    state = data_state(args.data_dir, args.final[:2])
    stamp(args.metrics, state)
    for path in drop_results_of_other_data(args.model_results, state):
        print(f"augment: removed {path}: a model result of another data state (this data: {state})", flush=True)


if __name__ == "__main__":
    run(main)
