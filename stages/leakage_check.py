"""leakage-check: fail, naming what leaked, if a patient or an image (exact or near
duplicate) appears in two splits; the report is written either way (see radtune.leakage)."""

import argparse
import sys
from pathlib import Path

import cv2

from radtune.io import write_json
from radtune.leakage import leak_messages, leakage_report
from radtune.params import load_params
from radtune.records import read_records
from radtune.stagelog import run


def main() -> int | None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=Path, required=True, help="stratify's records (JSON)")
    ap.add_argument("--images", type=Path, required=True, help="normalize's image folder")
    ap.add_argument("--report", type=Path, required=True)
    args = ap.parse_args()

    p = load_params()
    leak = p.dataset.leakage
    report = leakage_report(read_records(args.records), leak.phash_max_distance, leak.near_duplicate_min_correlation,
                            load=lambda image_id: cv2.imread(str(args.images / f"{image_id}.jpg"), cv2.IMREAD_GRAYSCALE))
    write_json(args.report, report)
    for line in leak_messages(report):
        print(f"leakage-check: LEAK: {line}", file=sys.stderr)
    print(f"leakage-check: {report['images']} images, {report['patients']} patients, "
          f"{'passed' if report['passed'] else 'FAILED'}", flush=True)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    run(main)
