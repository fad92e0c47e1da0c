"""Training throughput of the train stage's loop (radtune.train.loop.train): tokens/s and
samples/s, in one process and in several (`accelerate launch`, radtune.train.ddp).

Run (from the repository root):

    .venv/bin/python benchmarks/bench_train.py                     # tiny model (conf/model/tiny_gemma3.yaml),
                                                                   # LoRA recipe, 1 and 2 processes
    .venv/bin/python benchmarks/bench_train.py --processes 1 --steps 40

On a CUDA host (MedGemma 4B QLoRA as `dvc exp run -S model=medgemma_4b -S train=qlora` trains
it; the weights already in the Hugging Face cache: `huggingface-cli download
google/medgemma-4b-it`, see README "On a CUDA host"), one GPU per process:

    .venv/bin/python benchmarks/bench_train.py --model medgemma_4b --train qlora --processes 1,2,4 --steps 20

Every run trains the same examples with the same global batch (batch_size x grad_accum of
the recipe; the micro-batches of a step are divided among the processes, so where
grad_accum is not a multiple of the largest process count, e.g. the lora recipe's 8 x 1,
the batch is cut into more micro-batches: 4 x 2 for 2 processes) on the pedirad-8k
test fixture (tests/_vlm_fixture.py: 512 x 512 radiograph-like JPGs, the variant's prompts
and JSON answers). Timed: the optimizer steps only (not loading, the vision warm-up, which
is switched off, nor saving); tokens are the non-padding prompt + image + answer tokens. On
a CPU host each process runs one thread (`--set train.num_threads=2` for the recipe's: the
tiny model's ops are too small for intra-op threads, which on this shared 2-core machine
made one process 4x slower), so N processes use N cores. Nothing is downloaded
(HF_HUB_OFFLINE=1): a hub model that is not cached stops with one line. Prints a table; it
never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: never download
REPO = Path(__file__).resolve().parents[1]
SEED = 0


def configs(args: argparse.Namespace):
    """(model, train) config dicts: conf/ files, the benchmark's settings, then --set overrides."""
    import torch
    import yaml
    from omegaconf import OmegaConf

    model = OmegaConf.load(REPO / "conf" / "model" / f"{args.model}.yaml")
    train = OmegaConf.load(REPO / "conf" / "train" / f"{args.train}.yaml")
    train.max_steps, train.save_steps, train.eval_steps = args.steps, 10**9, 10**9
    most = max(int(n) for n in args.processes.split(","))
    while train.grad_accum % most and train.batch_size % 2 == 0:  # a micro-batch for every process
        train.batch_size, train.grad_accum = train.batch_size // 2, train.grad_accum * 2
    train.vision_warmup = {"epochs": 0}
    train.keep_checkpoints = False
    if not torch.cuda.is_available():
        train.num_threads = 1
    cfg = OmegaConf.create({"model": model, "train": train})
    for item in args.set:
        key, _, value = item.partition("=")
        OmegaConf.update(cfg, key, yaml.safe_load(value), merge=False)
    return OmegaConf.to_container(cfg.model, resolve=True), OmegaConf.to_container(cfg.train, resolve=True)


def prepare(args: argparse.Namespace, work: Path) -> None:
    """The fixture exported to JSONL (work/data) and, for the tiny model, its base (work/base)."""
    sys.path.insert(0, str(REPO / "tests"))
    from _vlm_fixture import make_data_dir
    from radtune.export import write_export
    from radtune.train.run import tokenizer_texts
    from radtune.variants.pedirad_8k.prompts import split_rows

    data = make_data_dir(work / "data", {"train": args.examples, "val": 1, "test": 1})
    rows = {split: split_rows(data / "annotations", split) for split in ("train", "val", "test")}
    write_export(data, data / "jsonl", data / "dataset_registry.yml", "pedirad-8k", {}, rows, "fracture")
    model_cfg, _ = configs(args)
    if model_cfg["build"] == "tiny":
        from radtune.io import read_jsonl
        from radtune.model.tiny import build_tiny_base

        train_rows = read_jsonl(data / "jsonl" / "train.jsonl")
        build_tiny_base(model_cfg, tokenizer_texts(train_rows), work / "base", SEED)


def worker(args: argparse.Namespace, work: Path) -> None:
    """One measurement (run by each process): load, train `--steps` steps, rank 0 writes the result."""
    from radtune import variants
    from radtune.io import read_jsonl
    from radtune.model.load import base_path, load_base
    from radtune.runtime import device_name, setup_determinism
    from radtune.train.data import examples_from_rows
    from radtune.train.ddp import ranks
    from radtune.train.loop import train

    r = ranks()
    model_cfg, train_cfg = configs(args)
    setup_determinism(SEED, int(train_cfg["num_threads"]), bool(train_cfg.get("deterministic", True)))
    model, processor = load_base(model_cfg, train_cfg, base_path(model_cfg, work))
    examples = examples_from_rows(read_jsonl(work / "data" / "jsonl" / "train.jsonl"), work / "data")
    result = train(
        model,
        processor,
        examples,
        [],
        train_cfg,
        SEED,
        work / f"lora-{r.size}",
        work / f"checkpoints-{r.size}",
        None,
        run_fingerprint="bench",  # (no checkpoint is written: save_steps is past the end)
        blank_text=variants.get("pedirad_8k").blank_text,
        log=lambda s: None,
    )
    if r.main:
        samples = (result.steps - result.resumed_from) * int(train_cfg["batch_size"]) * int(train_cfg["grad_accum"])
        out = {
            "processes": r.size,
            "device": device_name(model),
            "threads": int(train_cfg["num_threads"]),
            "batch": f"{train_cfg['batch_size']} x {train_cfg['grad_accum']}",
            "steps": result.steps - result.resumed_from,
            "samples": samples,
            "tokens": result.tokens,
            "seconds": result.seconds,
        }
        (work / f"result-{r.size}.json").write_text(json.dumps(out))
    r.finish("bench")


def measure(args: argparse.Namespace, work: Path, n: int) -> dict | str:
    """Run one measurement with n processes; its result, or why there is none."""
    me = [str(Path(__file__).resolve()), "--worker", str(work), *sys.argv[1:]]
    if n == 1:
        cmd = [sys.executable, *me]
    else:
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(n)]
        cmd += ["--num_machines", "1", "--main_process_port", "0", "--mixed_precision", "no", "--dynamo_backend", "no"]
        cmd += me
    paths = [str(REPO / "src"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    result = work / f"result-{n}.json"
    if proc.returncode != 0 or not result.exists():
        lines = [x for x in (proc.stderr or proc.stdout).strip().splitlines() if x.strip()]
        return lines[-1] if lines else f"exit status {proc.returncode}"
    return json.loads(result.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny_gemma3", help="conf/model/<name>.yaml (default tiny_gemma3)")
    ap.add_argument("--train", default="lora", help="conf/train/<name>.yaml (default lora)")
    ap.add_argument("--processes", default="1,2", help="comma-separated process counts (default 1,2)")
    ap.add_argument("--steps", type=int, default=20, help="optimizer steps per measurement (default 20)")
    ap.add_argument("--examples", type=int, default=32, help="training examples in the fixture (default 32)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides (train.x=y)")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args, args.worker)
        return
    counts = [int(n) for n in args.processes.split(",")]
    print(f"bench_train: model={args.model} train={args.train} steps={args.steps} set={' '.join(args.set)}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prepare(args, work)
        results = {n: measure(args, work, n) for n in counts}
    header = f"{'processes':>9} {'device':>10} {'threads':>7} {'batch':>7} {'steps':>5} {'samples':>7} "
    header += f"{'tokens':>8} {'seconds':>8} {'samples/s':>9} {'tokens/s':>9} {'speed-up':>8}"
    print(header)
    base = None
    for n, res in results.items():
        if isinstance(res, str):
            print(f"{n:>9} (no result: {res})")
            continue
        rate = res["samples"] / max(res["seconds"], 1e-9)
        base = base or rate
        print(
            f"{n:>9} {res['device'][:10]:>10} {res['threads']:>7} {res['batch']:>7} {res['steps']:>5} "
            f"{res['samples']:>7} {res['tokens']:>8} {res['seconds']:>8.2f} {rate:>9.1f} "
            f"{res['tokens'] / max(res['seconds'], 1e-9):>9.0f} {rate / base:>7.2f}x"
        )


if __name__ == "__main__":
    main()
