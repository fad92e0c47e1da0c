"""fetch: get the inputs the variant downloads (ct_v4: the S3 no-hemorrhage pool, resumable),
or, for a variant whose inputs are local, an inventory of the raw folder."""

import argparse
from pathlib import Path

from radtune import variants
from radtune.params import load_params
from radtune.stagelog import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--raw", type=Path, required=True, help="raw input folder (dataset.raw_dir)")
    ap.add_argument("--out", type=Path, required=True, help="dataset.layout.fetched")
    args = ap.parse_args()

    p = load_params()
    variants.get(p.dataset.variant).fetch(p, raw=args.raw, out=args.out)


if __name__ == "__main__":
    run(main)
