"""fetch: an inventory of the raw folder, and the inputs the variant downloads (ct_v4: the
S3 no-hemorrhage pool, resumable). It re-checks the settings only the raw inputs can
refuse (check-params checks them on a settings change; fetch, on a raw-folder change)."""

import argparse
from pathlib import Path

from radtune import variants
from radtune.params import load_params
from radtune.preflight import check_inputs
from radtune.stagelog import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--raw", type=Path, required=True, help="raw input folder (dataset.raw_dir)")
    ap.add_argument("--out", type=Path, required=True, help="dataset.layout.fetched")
    args = ap.parse_args()

    p = load_params()
    check_inputs(p, raw=args.raw)
    variants.get(p.dataset.variant).fetch(p, raw=args.raw, out=args.out)


if __name__ == "__main__":
    run(main)
