"""check-params: validate every setting the stages read (and the ones only the raw inputs
can refuse) before any stage runs; write the stamp the first data stage depends on."""

import argparse
from pathlib import Path

from radtune.params import load_params
from radtune.preflight import check_inputs, write_stamp
from radtune.stagelog import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--raw", type=Path, required=True, help="raw input folder (dataset.raw_dir)")
    ap.add_argument("--out", type=Path, required=True, help="the stamp (same bytes for every valid configuration)")
    args = ap.parse_args()

    p = load_params()  # the key rules (radtune.params.validate)
    check_inputs(p, raw=args.raw)  # the settings only the raw inputs can refuse
    write_stamp(p, args.out)
    print(f"check-params: {p.dataset.variant}: every setting valid", flush=True)


if __name__ == "__main__":
    run(main)
