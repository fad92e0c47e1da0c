"""fetch: get the inputs a variant downloads (ct_coco: the S3 no-hemorrhage pool, resumable);
for a variant whose inputs are local (pedirad), an inventory of the raw folder."""

import argparse
from pathlib import Path

from radtune.io import write_json
from radtune.params import load_params
from radtune.stagelog import run


def main() -> int | None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--raw", type=Path, required=True, help="raw input folder")
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    args = ap.parse_args()

    p = load_params()
    if p.dataset.kind == "ct_coco":
        from radtune.ct.stages import stage_fetch

        stage_fetch(p.dataset, raw_dir=args.raw, out_dir=args.out)
    else:
        from radtune.inventory import inventory

        inv = inventory(args.raw)
        write_json(args.out / "inventory.json", inv)
        print(f"fetch: {inv['files']} local inputs ({inv['bytes'] / 1e6:.0f} MB), nothing to download")


if __name__ == "__main__":
    run(main)
