"""leakage-check: verify the published dataset; write the report, stamped with the data state
it checked (`radtune.datastate`: export-jsonl depends on the published images through it),
and exit non-zero naming what leaked or failed."""

import argparse
from pathlib import Path

from radtune import variants
from radtune.datastate import data_state, stamp
from radtune.params import load_params
from radtune.stagelog import run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, required=True, help="dataset.data_dir (image paths are relative to it)")
    ap.add_argument("--final", type=Path, nargs=3, required=True, help="dataset.layout.final (three paths)")
    ap.add_argument("--report", type=Path, required=True, help="dataset.layout.check_report")
    args = ap.parse_args()

    p = load_params()
    passed = variants.get(p.dataset.variant).leakage_check(
        p, data_dir=args.data_dir, final=tuple(args.final), report=args.report
    )
    stamp(args.report, data_state(args.data_dir, args.final[:2]))
    return 0 if passed else 1


if __name__ == "__main__":
    run(main)
