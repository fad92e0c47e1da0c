"""Does the image carry bone age? A small CNN probe on the processed pedirad-8k images.

Issue #9 asks to prove, before blaming the VLM, that the synthetic radiographs carry
skeletal maturity a model can read. This trains a small CNN (4 conv blocks + max-pool,
seeded, CPU) on the train split's processed images, downscaled to `--size` pixels (the
VLM's vision input is 96), and reports on VAL (never test):

  image only        bone age regressed from the image alone
  age + image       the chronological age from the annotation + a residual read from the image
  chronological     answering with the chronological age (the eval baseline)
  train mean        the mean predictor

Run after the data stages (`dvc repro augment` or more), from the repository root:

    .venv/bin/python benchmarks/probe_bone_age.py                  # 96 px, 40 epochs (~8 min quiet)
    .venv/bin/python benchmarks/probe_bone_age.py --size 192 --epochs 20

Measured 2026-12-06 on the default sample (n=1400, seed 0), 96 px, 40 epochs, 1 thread:
val image only 5.21, age + image 5.27, chronological 6.61 months (142 val images).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn


def load_split(data_dir: Path, split: str, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images [N,1,size,size] in 0..1, chronological ages, bone ages) of one split."""
    records = json.loads((data_dir / "annotations" / f"{split}_annotations.json").read_text())
    records = [r for r in records if r.get("bone_age_months") is not None and r.get("age_months") is not None]
    images = np.stack(
        [
            cv2.resize(
                cv2.imread(str(data_dir / r["image_path"]), cv2.IMREAD_GRAYSCALE),
                (size, size),
                interpolation=cv2.INTER_AREA,
            )
            for r in records
        ]
    ).astype(np.float32)
    age = torch.tensor([float(r["age_months"]) for r in records])
    bone_age = torch.tensor([float(r["bone_age_months"]) for r in records])
    return torch.tensor(images / 255.0)[:, None], age, bone_age


class Probe(nn.Module):
    """Conv blocks -> global max-pool -> [image features, standardised age] -> 2 outputs:
    the standardised bone age (image only; the age input is there for the residual head)
    and the residual (bone age - age) / 8."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 1
        for k in (16, 32, 64, 96):
            layers += [nn.Conv2d(c, k, 3, padding=1), nn.BatchNorm2d(k), nn.ReLU(), nn.MaxPool2d(2)]
            c = k
        self.features = nn.Sequential(
            *layers, nn.Conv2d(c, 128, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten()
        )
        self.head = nn.Linear(128 + 1, 2)

    def forward(self, x: torch.Tensor, age_std: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.features(x), age_std[:, None]], 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=Path("data/pedirad-8k"))
    ap.add_argument("--size", type=int, default=96, help="image side in pixels (the VLM sees 96)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    xt, at, bt = load_split(args.data_dir, "train", args.size)
    xv, av, bv = load_split(args.data_dir, "val", args.size)
    net = Probe()
    # image-only and age+image heads share the features (the image-only head ignores age
    # only if it learns to: that is what the comparison with "chronological" tests)
    mu, sd = bt.mean(), bt.std()
    opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-4)
    steps = args.epochs * ((len(xt) + 31) // 32)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    started = time.perf_counter()
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 32):
            idx = perm[i : i + 32]
            x = xt[idx]
            if torch.rand(1) < 0.5:
                x = x.flip(3)
            out = net(x, (at[idx] - mu) / sd)
            loss = nn.functional.smooth_l1_loss(out[:, 0], (bt[idx] - mu) / sd) + nn.functional.smooth_l1_loss(
                out[:, 1], (bt[idx] - at[idx]) / 8
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if (epoch + 1) % 10 == 0 or epoch == args.epochs - 1:
            net.eval()
            with torch.no_grad():
                out = torch.cat([net(xv[i : i + 64], (av[i : i + 64] - mu) / sd) for i in range(0, len(xv), 64)])
            image_only = ((out[:, 0] * sd + mu) - bv).abs().mean()
            combined = ((av + out[:, 1] * 8) - bv).abs().mean()
            print(
                f"{args.size} px epoch {epoch + 1}: val bone-age MAE image only {image_only:.2f}, "
                f"age + image {combined:.2f}, chronological {(av - bv).abs().mean():.2f}, "
                f"train mean {(mu - bv).abs().mean():.2f} months "
                f"({len(bv)} val images, {time.perf_counter() - started:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
