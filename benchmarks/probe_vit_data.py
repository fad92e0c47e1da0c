"""Does the tiny model's from-scratch vision tower learn bone age with more images? On VAL.

Issue #9: `probe_vision_warmup.py` showed the warmed-up SigLIP tower of the tiny model
carries no bone age (val MAE 21-26 months against 6.6 for the chronological age), while a
small CNN on the same 96-px pixels reaches 9.0 and `probe_bone_age.py`'s 5.2. This trains
the tower alone (the tiny model's SiglipVisionConfig, mean-pooled, one linear head,
standardised MSE, AdamW 1e-3, no augmentation) on the first N train images of a
pedirad-8k data folder and reports MAE on the committed sample's val split (never test).
A bigger train set comes from another seed, in a clone of this repository:

    .venv/bin/radtune synth pedirad_8k --out data/raw/pedirad-8k --n 8000 --seed 1
    .venv/bin/dvc repro export-jsonl      # with params dataset.synth.n=8000, seed=1

    .venv/bin/python benchmarks/probe_vit_data.py 256:100                # images:epochs
    .venv/bin/python benchmarks/probe_vit_data.py --train-data /tmp/big/data/pedirad-8k 6400:30

Measured 2026-12-07 (val n=142): 256 train images, 100 epochs: train MAE 1.6 (memorised),
val 26.3; 6,400 images, 30 epochs: train 10.2, val 16.3 (chronological age: 6.6). More
images help, slowly; a ViT this size would need far more than CI can generate and train on.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import SiglipVisionConfig, SiglipVisionModel

from mdtable import header, row  # this folder: benchmarks/
from radtune.io import read_jsonl

SIZE, PATCH, WIDTH = 96, 8, 96  # conf/model/tiny_gemma3.yaml's vision tower


def load(data: Path, split: str, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images of `split` resized to 96 px in [-1, 1] (as the processor), and their bone ages."""
    rows = read_jsonl(data / "jsonl" / f"{split}.jsonl")[:n]
    images = [
        np.asarray(Image.open(data / r["image_path"]).convert("L").resize((SIZE, SIZE), Image.BICUBIC), np.float32)
        for r in rows
    ]
    x = torch.tensor(np.stack(images) / 127.5 - 1)[:, None].repeat(1, 3, 1, 1)
    return x, torch.tensor([float(json.loads(r["target"])["bone_age_months"]) for r in rows])


class Tower(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        config = SiglipVisionConfig(
            image_size=SIZE,
            patch_size=PATCH,
            hidden_size=WIDTH,
            intermediate_size=2 * WIDTH,
            num_hidden_layers=2,
            num_attention_heads=4,
        )
        self.vision, self.head = SiglipVisionModel(config), torch.nn.Linear(WIDTH, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.vision(pixel_values=x).last_hidden_state.mean(1))[:, 0]


def probe(xt, yt, xv, yv, epochs: int) -> tuple[float, float]:
    torch.manual_seed(0)
    model, mu, sd = Tower(), yt.mean(), yt.std()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xt)).split(32):
            loss = torch.nn.functional.mse_loss(model(xt[idx]), (yt[idx] - mu) / sd)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        predict = [torch.cat([model(c) for c in x.split(256)]) * sd + mu for x in (xt, xv)]
    return float((predict[0] - yt).abs().mean()), float((predict[1] - yv).abs().mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-data", type=Path, default=Path("data/pedirad-8k"))
    ap.add_argument("--val-data", type=Path, default=Path("data/pedirad-8k"))
    ap.add_argument("runs", nargs="+", help="<train images>:<epochs>, e.g. 256:100")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    xv, yv = load(args.val_data, "val")
    print("\n".join(header(["train images", "epochs", "train MAE", "val MAE", "seconds"])))
    for run in args.runs:
        n, epochs = (int(v) for v in run.split(":"))
        xt, yt = load(args.train_data, "train", n)
        t0 = time.perf_counter()
        train_mae, val_mae = probe(xt, yt, xv, yv, epochs)
        seconds = time.perf_counter() - t0
        print(row([len(xt), epochs, f"{train_mae:.2f}", f"{val_mae:.2f}", f"{seconds:.0f}"]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
