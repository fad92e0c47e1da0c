"""stratify: a split for every image, and the split report."""

import argparse
from pathlib import Path

from radtune import variants
from radtune.params import load_params
from radtune.stagelog import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--annotated", type=Path, required=True, help="dataset.layout.annotated")
    ap.add_argument("--out", type=Path, required=True, help="dataset.layout.split")
    ap.add_argument("--report", type=Path, required=True, help="dataset.layout.split_report")
    args = ap.parse_args()

    p = load_params()
    variants.get(p.dataset.variant).stratify(p, annotated=args.annotated, out=args.out, report=args.report)


if __name__ == "__main__":
    run(main)
