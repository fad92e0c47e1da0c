"""normalize: every raw input -> an 8-bit, letterboxed JPG and a record (see radtune.normalize)."""

import argparse
from pathlib import Path

from radtune.normalize import NormalizeSettings, list_inputs, normalize_all
from radtune.params import load_params
from radtune.pseudonym import resolve_key
from radtune.records import write_records
from radtune.stagelog import run, stage_log


def main() -> int | None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--raw", type=Path, required=True, help="raw input folder")
    ap.add_argument("--out", type=Path, required=True, help="output folder: images/ + records.json")
    args = ap.parse_args()

    p = load_params()
    n = p.dataset.normalize
    settings = NormalizeSettings(size=n.size, window=n.window, auto_percentiles=tuple(n.auto_percentiles),
                                 jpeg_quality=n.jpeg_quality, key=resolve_key(p.dataset.pseudonym))
    exclude = {p.dataset.annotate.labels_csv} if p.dataset.annotate.labels_csv else set()
    with stage_log("normalize") as records:
        records += normalize_all(list_inputs(args.raw, exclude), args.raw, args.out / "images", settings, p.jobs)
        write_records(args.out / "records.json", records)


if __name__ == "__main__":
    run(main)
