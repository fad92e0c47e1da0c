"""merge: reload the base unquantised in float32, apply the LoRA adapter, merge_and_unload, check the
logits, save model + processor in model.dtype with merge_report.json (see radtune.merge)."""

import argparse
from pathlib import Path

from omegaconf import OmegaConf

from radtune.outputs import keep_previous
from radtune.params import load_params
from radtune.stagelog import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, required=True, help="folder holding jsonl/ (prompts for the check)")
    ap.add_argument("--model-dir", type=Path, required=True, help="holds base/ (tiny) and lora/")
    ap.add_argument("--out", type=Path, required=True, help="merged model folder")
    args = ap.parse_args()

    from radtune.merge import MergeMismatch, check_examples_from, merge_adapter
    from radtune.model.load import base_path

    p = load_params()
    model_cfg = OmegaConf.to_container(p.model, resolve=True)
    # dvc.yaml: persist: true; a failure (the logits check included) puts the previous merged model back
    with keep_previous([args.out]):
        try:
            merge_adapter(
                model_cfg,
                base_path(model_cfg, args.model_dir),
                args.model_dir / "lora",
                args.out,
                check_examples_from(args.data_dir, "test", int(p.merge.check_samples)),
                atol=float(p.merge.atol),
                num_threads=int(p.train.num_threads),
                seed=p.seed,
                quantization=str(p.train.quantization),
            )
        except MergeMismatch as e:
            raise SystemExit(str(e)) from None


if __name__ == "__main__":
    run(main)
