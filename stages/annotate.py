"""annotate: labels for every normalized image (pedirad: labels CSV + file-name convention +
header, radtune.annotate; ct_coco: COCO remap/merge/clip, radtune.ct.stages.stage_annotate)."""

import argparse
from pathlib import Path

from radtune.params import load_params
from radtune.stagelog import run


def main() -> int | None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--raw", type=Path, required=True, help="raw input folder (labels CSV / COCO sources)")
    ap.add_argument("--fetched", type=Path, required=True, help="fetch's output folder")
    ap.add_argument("--normalized", type=Path, required=True, help="normalize's output folder")
    ap.add_argument("--out", type=Path, required=True, help="annotated records (pedirad: JSON file; ct_coco: folder)")
    args = ap.parse_args()

    p = load_params()
    if p.dataset.kind == "ct_coco":
        from radtune.ct.stages import stage_annotate

        stage_annotate(p.dataset, raw_dir=args.raw, normalized_dir=args.normalized, fetched_dir=args.fetched,
                       out_dir=args.out)
        return None

    from radtune.annotate import annotate, read_labels_csv
    from radtune.pseudonym import resolve_key
    from radtune.records import read_records, write_records
    from radtune.stagelog import stage_log

    csv_name = p.dataset.annotate.labels_csv
    csv_path = args.raw / csv_name if csv_name else None
    rows = read_labels_csv(csv_path) if csv_path and csv_path.exists() else {}
    with stage_log("annotate") as records:
        records += annotate(read_records(args.normalized / "records.json"), rows, resolve_key(p.dataset.pseudonym))
        write_records(args.out, records)
    return None


if __name__ == "__main__":
    run(main)
