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
    ap.add_argument("--registry", type=Path, required=True, help="dataset registry (the data state the metrics name)")
    args = ap.parse_args()

    from radtune.datastate import KEY
    from radtune.evaluate import evaluate, located, split_rows
    from radtune.export import read_registry_entry
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
        named = read_registry_entry(args.registry, p.export.dataset_id).get(KEY)
        state = {KEY: named} if named else {}  # the data state the metrics describe (radtune.datastate)
        write_json(args.metrics, {**state, **metrics})
        write_json(args.val_metrics, {**state, **val_metrics})
        rows = split_rows(args.data_dir, "test", eval_cfg.get("max_samples"))
        sources = variant.source_names(p, data_dir=args.data_dir)
        write_jsonl(args.predictions, located(predictions, rows, args.data_dir, sources))
        eval_figures(args.figures, variant, p, args.data_dir, rows, test)


if __name__ == "__main__":
    run(main)
