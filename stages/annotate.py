"""annotate: labels from the labels CSV, the file-name convention and the header (see radtune.annotate)."""

import argparse
from pathlib import Path

from radtune.annotate import annotate, read_labels_csv
from radtune.params import load_params
from radtune.pseudonym import resolve_key
from radtune.records import read_records, write_records
from radtune.stagelog import run, stage_log


def main() -> int | None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=Path, required=True, help="normalize's records.json")
    ap.add_argument("--raw", type=Path, required=True, help="raw input folder (holds the labels CSV)")
    ap.add_argument("--out", type=Path, required=True, help="annotated records (JSON)")
    args = ap.parse_args()

    p = load_params()
    csv_name = p.dataset.annotate.labels_csv
    csv_path = args.raw / csv_name if csv_name else None
    rows = read_labels_csv(csv_path) if csv_path and csv_path.exists() else {}
    with stage_log("annotate") as records:
        records += annotate(read_records(args.records), rows, resolve_key(p.dataset.pseudonym))
        write_records(args.out, records)


if __name__ == "__main__":
    run(main)
