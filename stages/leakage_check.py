"""leakage-check: verify the published dataset; exit non-zero, naming what leaked or failed,
and write the report either way. pedirad: patients / identical / near-duplicate images
across splits (radtune.leakage); ct_coco: the seed's 8 validation checks."""

import argparse
import sys
from pathlib import Path

from radtune.io import read_json, write_json
from radtune.params import load_params
from radtune.stagelog import run


def main() -> int | None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, required=True, help="root that image paths are relative to")
    ap.add_argument("--final", type=Path, nargs=3, required=True, help="augment's outputs (dataset.layout.final)")
    ap.add_argument("--report", type=Path, required=True)
    args = ap.parse_args()

    p = load_params()
    if p.dataset.kind == "ct_coco":
        from radtune.ct import validate
        from radtune.ct.stages import stage_leakage_check

        six, _, four = args.final
        return validate.exit_code(stage_leakage_check(p.dataset, six_dir=six, four_dir=four, report_path=args.report))

    from radtune.leakage import SPLITS, fingerprint, leak_messages, leakage_report

    leak = p.dataset.leakage
    annotations_dir = args.final[1]
    published = [r for s in SPLITS for r in read_json(annotations_dir / f"{s}_annotations.json")]
    records, thumbs = fingerprint(published, args.data_dir)
    report = leakage_report(records, leak.phash_max_distance, leak.near_duplicate_min_correlation, thumbs)
    write_json(args.report, report)
    for line in leak_messages(report):
        print(f"leakage-check: LEAK: {line}", file=sys.stderr)
    print(f"leakage-check: {report['images']} images, {report['patients']} patients, "
          f"{'passed' if report['passed'] else 'FAILED'}", flush=True)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    run(main)
