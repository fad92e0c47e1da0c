"""eval: greedy answers of the merged model on the test split, scored by the variant;
val and test metrics, per-sample predictions and PNG figures (see radtune.evaluate, radtune.report)."""

import argparse
from pathlib import Path

from omegaconf import OmegaConf

from radtune import variants
from radtune.outputs import keep_previous
from radtune.params import load_params
from radtune.stagelog import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, required=True, help="merged model folder")
    ap.add_argument("--data-dir", type=Path, required=True, help="folder holding jsonl/ and the images")
    ap.add_argument("--metrics", type=Path, required=True, help="test metrics JSON (metrics/<variant>/eval.json)")
    ap.add_argument("--val-metrics", type=Path, required=True, help="val metrics JSON (for choosing recipes)")
    ap.add_argument("--predictions", type=Path, required=True, help="per-sample predictions JSONL")
    ap.add_argument("--figures", type=Path, required=True, help="folder of PNG figures (confusion, scores, montage)")
    args = ap.parse_args()

    from radtune.evaluate import evaluate, split_rows
    from radtune.io import write_json, write_jsonl
    from radtune.report import eval_figures

    p = load_params()
    variant = variants.get(p.dataset.variant)
    eval_cfg = OmegaConf.to_container(p.eval, resolve=True)
    model_cfg = OmegaConf.to_container(p.model, resolve=True)
    # dvc.yaml: persist: true; a failure puts the previous metrics, predictions and figures back
    with keep_previous([args.metrics, args.val_metrics, args.predictions, args.figures]):
        test, val_metrics = evaluate(
            args.model, args.data_dir, eval_cfg, seed=p.seed, variant=variant, model_cfg=model_cfg
        )
        metrics, _, predictions = test
        write_json(args.metrics, metrics)
        write_json(args.val_metrics, val_metrics)
        write_jsonl(args.predictions, predictions)
        rows = split_rows(args.data_dir, "test", eval_cfg.get("max_samples"))
        eval_figures(args.figures, variant, p, args.data_dir, rows, test)


if __name__ == "__main__":
    run(main)
