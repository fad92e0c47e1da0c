"""leakage-check: fail, naming what leaked, if a patient or an image (exact or near
duplicate) appears in two splits of the published dataset; the report is written either
way (see radtune.leakage)."""

import argparse
import sys
from pathlib import Path

from radtune.io import read_json, write_json
from radtune.leakage import SPLITS, fingerprint, leak_messages, leakage_report
from radtune.params import load_params
from radtune.stagelog import run


def main() -> int | None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--annotations", type=Path, required=True, help="folder of <split>_annotations.json")
    ap.add_argument("--data-dir", type=Path, required=True, help="root of the annotations' image paths")
    ap.add_argument("--report", type=Path, required=True)
    args = ap.parse_args()

    p = load_params()
    leak = p.dataset.leakage
    published = [r for s in SPLITS for r in read_json(args.annotations / f"{s}_annotations.json")]
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
