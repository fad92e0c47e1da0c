"""normalize: every raw input -> an 8-bit, letterboxed image and a record
(pedirad: radtune.normalize; ct_coco: radtune.ct.stages.stage_normalize)."""

import argparse
from pathlib import Path

from radtune.params import load_params
from radtune.stagelog import run


def main() -> int | None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--raw", type=Path, required=True, help="raw input folder")
    ap.add_argument("--fetched", type=Path, required=True, help="fetch's output folder")
    ap.add_argument("--out", type=Path, required=True, help="output folder: images/ + records.json")
    args = ap.parse_args()

    p = load_params()
    if p.dataset.kind == "ct_coco":
        from radtune.ct.stages import stage_normalize

        stage_normalize(p.dataset, raw_dir=args.raw, fetched_dir=args.fetched, out_dir=args.out)
        return None

    from radtune.normalize import NormalizeSettings, list_inputs, normalize_all
    from radtune.pseudonym import resolve_key
    from radtune.records import write_records
    from radtune.stagelog import stage_log

    n = p.dataset.normalize
    settings = NormalizeSettings(size=n.size, window=n.window, auto_percentiles=tuple(n.auto_percentiles),
                                 jpeg_quality=n.jpeg_quality, key=resolve_key(p.dataset.pseudonym))
    exclude = {p.dataset.annotate.labels_csv} if p.dataset.annotate.labels_csv else set()
    with stage_log("normalize") as records:
        records += normalize_all(list_inputs(args.raw, exclude), args.raw, args.out / "images", settings, p.jobs)
        write_records(args.out / "records.json", records)
    return None


if __name__ == "__main__":
    run(main)
