"""export-jsonl: the published splits as chat-format JSONL plus the dataset registry
(rows: the variant's; writer and registry: radtune.export)."""

import argparse
import time
from pathlib import Path

from omegaconf import OmegaConf

from radtune import variants
from radtune.datastate import data_state
from radtune.export import locked_hashes, write_export
from radtune.params import load_params
from radtune.stagelog import print_summary, run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, required=True, help="dataset.data_dir")
    ap.add_argument("--out", type=Path, required=True, help="JSONL folder (<data-dir>/jsonl)")
    ap.add_argument("--registry", type=Path, required=True, help="dataset registry file to write")
    args = ap.parse_args()

    started = time.perf_counter()
    p = load_params()
    variant = variants.get(p.dataset.variant)
    made_by = {
        "dataset.name": p.dataset.name,
        "dataset.data_dir": p.dataset.data_dir,
        "export": OmegaConf.to_container(p.export, resolve=True),
    }
    rows = {s: variant.export_rows(p, data_dir=args.data_dir, split=s) for s in p.export.splits}
    published = [args.data_dir / f for f in p.dataset.layout.final[:2]]
    counts = write_export(
        args.data_dir,
        args.out,
        args.registry,
        p.export.dataset_id,
        made_by,
        rows,
        variant.positive_key,
        locked_hashes(published),
        data_state(args.data_dir, published),
    )
    print_summary("export-jsonl", started, **{f"{s} rows": n for s, n in counts.items()})


if __name__ == "__main__":
    run(main)
