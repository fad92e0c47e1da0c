"""annotate: labels for every normalized image."""

import argparse
from pathlib import Path

from radtune import variants
from radtune.params import load_params
from radtune.stagelog import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--raw", type=Path, required=True, help="raw input folder (dataset.raw_dir)")
    ap.add_argument("--fetched", type=Path, required=True, help="dataset.layout.fetched")
    ap.add_argument("--normalized", type=Path, required=True, help="dataset.layout.normalized")
    ap.add_argument("--out", type=Path, required=True, help="dataset.layout.annotated")
    args = ap.parse_args()

    p = load_params()
    variants.get(p.dataset.variant).annotate(
        p, raw=args.raw, fetched=args.fetched, normalized=args.normalized, out=args.out
    )


if __name__ == "__main__":
    run(main)
