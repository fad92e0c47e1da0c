"""augment: the published dataset (seeded train-only augmentation), dataset metrics and
plot data."""

import argparse
from pathlib import Path

from radtune import variants
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


if __name__ == "__main__":
    run(main)
