"""train: (build the tiny base,) LoRA/QLoRA fine-tuning, adapter + card, dvclive curves
(see radtune.train.run). Resumes from <model-dir>/checkpoints after an interrupt.
Several processes: `accelerate launch --multi_gpu --num_processes N stages/train.py ...`, or
RADTUNE_TRAIN_PROCESSES=N in the environment of `dvc exp run` (radtune.train.ddp); rank 0
writes every output."""

import argparse
import os
import sys
from contextlib import nullcontext
from pathlib import Path

from radtune import variants
from radtune.outputs import keep_previous
from radtune.params import load_params
from radtune.stagelog import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, required=True, help="folder holding jsonl/ and the images")
    ap.add_argument("--registry", type=Path, required=True, help="dataset registry (provenance for the card)")
    ap.add_argument("--model-dir", type=Path, required=True, help="base/ (tiny), lora/ and checkpoints/ go here")
    ap.add_argument("--live", type=Path, required=True, help="dvclive folder for the training curves")
    ap.add_argument("--curves", type=Path, required=True, help="PNG figure of the training curves")
    args = ap.parse_args()

    p = load_params()
    from radtune.model.load import check_quantization

    check_quantization(p.train)  # QLoRA on a machine without CUDA: one line, nothing loaded
    from radtune.train.ddp import launch_argv, ranks

    if argv := launch_argv(sys.argv):  # RADTUNE_TRAIN_PROCESSES=N: this command again, in N processes
        os.execv(sys.executable, argv)
    from radtune.figures import curves_png
    from radtune.train.run import run_training

    r = ranks()  # one process unless started by `accelerate launch` with several
    # dvc.yaml: persist: true; a failure puts the previous adapter, base and curves back
    outputs = [args.model_dir / "base", args.model_dir / "lora", args.live, args.curves]
    with keep_previous(outputs) if r.main else nullcontext():
        run_training(
            p.model,
            p.train,
            p.seed,
            args.data_dir,
            args.model_dir,
            p.export.dataset_id,
            args.registry,
            args.live,
            blank_text=variants.get(p.dataset.variant).blank_text,
        )
        if r.main:
            curves_png(args.live, args.curves, f"{p.dataset.variant}: training curves")
    r.finish("train")  # several processes: the others wait for rank 0's outputs


if __name__ == "__main__":
    run(main)
