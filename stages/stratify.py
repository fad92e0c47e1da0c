"""stratify: quality gate, then a split per image (see radtune.stratify)."""

import argparse
from pathlib import Path

from radtune.io import write_json
from radtune.params import load_params
from radtune.records import read_records, write_records
from radtune.stagelog import run, stage_log
from radtune.stratify import quality_report, stratify


def main() -> int | None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=Path, required=True, help="annotate's records (JSON)")
    ap.add_argument("--out", type=Path, required=True, help="split records (JSON)")
    ap.add_argument("--quality-report", type=Path, required=True)
    args = ap.parse_args()

    p = load_params()
    s = p.dataset.stratify
    with stage_log("stratify") as records:
        records += stratify(read_records(args.records), mode=s.mode, ratios=dict(s.ratios),
                            threshold=s.quality_threshold, age_edges=list(s.age_bins_months), seed=p.seed)
        write_records(args.out, records)
        write_json(args.quality_report, quality_report(records, s.quality_threshold))


if __name__ == "__main__":
    run(main)
