"""stratify: a split for every image (pedirad: quality gate + patient-level stratified or
kept folders, radtune.stratify; ct_coco: patient-level split + no-hemorrhage balancing)."""

import argparse
from pathlib import Path

from radtune.io import write_json
from radtune.params import load_params
from radtune.stagelog import run


def main() -> int | None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--annotated", type=Path, required=True, help="annotate's output")
    ap.add_argument("--out", type=Path, required=True, help="split records (pedirad: JSON file; ct_coco: folder)")
    ap.add_argument("--report", type=Path, required=True, help="pedirad: quality report; ct_coco: balance report")
    args = ap.parse_args()

    p = load_params()
    s = p.dataset.stratify
    if p.dataset.kind == "ct_coco":
        from radtune.ct.stages import stage_stratify

        write_json(args.report, stage_stratify(p.dataset, annotated_dir=args.annotated, out_dir=args.out, seed=p.seed))
        return None

    from radtune.records import read_records, write_records
    from radtune.stagelog import stage_log
    from radtune.stratify import quality_report, stratify

    with stage_log("stratify") as records:
        records += stratify(read_records(args.annotated), mode=s.mode, ratios=dict(s.ratios),
                            threshold=s.quality_threshold, age_edges=list(s.age_bins_months), seed=p.seed)
        write_records(args.out, records)
        write_json(args.report, quality_report(records, s.quality_threshold))
    return None


if __name__ == "__main__":
    run(main)
