"""export-jsonl: the annotated splits as chat-format JSONL plus the dataset registry
(see radtune.export)."""

import argparse
import time
from pathlib import Path

from omegaconf import OmegaConf

from radtune.params import load_params
from radtune.stagelog import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, required=True, help="folder holding annotations/ and processed/")
    ap.add_argument("--out", type=Path, required=True, help="JSONL folder (<data-dir>/jsonl)")
    ap.add_argument("--registry", type=Path, required=True, help="dataset registry file to write")
    args = ap.parse_args()

    started = time.perf_counter()
    p = load_params()
    made_by = {"dataset.name": p.dataset.name, "dataset.data_dir": p.dataset.data_dir,
               "export": OmegaConf.to_container(p.export, resolve=True)}
    from radtune.export import locked_hashes

    dvc_hashes = locked_hashes(args.data_dir / f for f in p.dataset.layout.final[:2])
    if p.dataset.kind == "ct_coco":
        from radtune.ct.export import export_ct

        counts = export_ct(args.data_dir, p.dataset.layout.final[0], args.out, args.registry, p.export.dataset_id,
                           made_by, made_by["export"], p.export.splits, dvc_hashes)
    else:
        from radtune.export import export_jsonl

        counts = export_jsonl(args.data_dir, args.out, args.registry, p.export.dataset_id, made_by, p.export.splits,
                              dvc_hashes)
    print(f"export-jsonl: {', '.join(f'{k} {v}' for k, v in counts.items())} rows -> {args.out}, "
          f"registry {args.registry}, {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    run(main)
