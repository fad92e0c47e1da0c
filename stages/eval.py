"""eval: greedy answers of the merged model on the test split, scored by the variant;
metrics, confusion rows for `dvc plots`, per-sample predictions (see radtune.evaluate)."""

import argparse
from pathlib import Path

from omegaconf import OmegaConf

from radtune import variants
from radtune.params import load_params
from radtune.stagelog import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, required=True, help="merged model folder")
    ap.add_argument("--data-dir", type=Path, required=True, help="folder holding jsonl/ and the images")
    ap.add_argument("--metrics", type=Path, required=True, help="metrics JSON (metrics/eval.json)")
    ap.add_argument("--confusion", type=Path, required=True, help="confusion rows JSON for dvc plots")
    ap.add_argument("--predictions", type=Path, required=True, help="per-sample predictions JSONL")
    args = ap.parse_args()

    from radtune.evaluate import evaluate
    from radtune.io import write_json, write_jsonl

    p = load_params()
    metrics, confusion, predictions = evaluate(
        args.model,
        args.data_dir,
        OmegaConf.to_container(p.eval, resolve=True),
        seed=p.seed,
        variant=variants.get(p.dataset.variant),
    )
    write_json(args.metrics, metrics)
    write_json(args.confusion, confusion)
    write_jsonl(args.predictions, predictions)


if __name__ == "__main__":
    run(main)
