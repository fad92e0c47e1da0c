"""What does the warmed-up vision tower know? A linear probe of its features, on VAL.

Issue #9: the tiny VLM answers bone age, fracture type and location no better than the
baselines. `probe_bone_age.py` showed the processed images carry bone age (a small CNN at
96 px: val MAE 5.21 months against 6.61 for the chronological age). This asks whether the
tiny model's own vision tower, after the recipe's vision warm-up
(`radtune.train.vision_warmup`), carries it: it builds the tiny base as the train stage does,
runs the warm-up on the train split, then fits linear probes on the mean-pooled image
features (what the warm-up heads see) of train and reports them on val (never test):

  bone age     ridge regression, image features only, and features + chronological age
  fracture, fracture_type, location   logistic regression (type and location on fractures)
  ROP (stage > 0), zone, plus disease  logistic regression (zone on the eyes with ROP)

Run after export-jsonl (pedirad_8k by default; `--data-dir data/pedirad-custom` for the
multi-task set), from the repository root; settings are
OmegaConf dotted overrides of conf/model/tiny_gemma3.yaml and conf/train/lora.yaml:

    .venv/bin/python benchmarks/probe_vision_warmup.py
    .venv/bin/python benchmarks/probe_vision_warmup.py model.vision.image_size=192 model.vision.patch_size=16
    .venv/bin/python benchmarks/probe_vision_warmup.py --only bone_age_months train.vision_warmup.epochs=60

Measured 2026-12-07 on the default sample (n=1400, seed 0), val: bone age image-only
MAE 21-26 months in every setting tried (default 23.2; 60 epochs 21.1; max-pooled heads
21.0; a bone-age head alone 25.5, with lr 3e-3 and no augmentation 26.2; 4 layers x 192
wide 26.2), against 19.0 for a ridge on the raw 32x32 pixels and 5.21 for the CNN probe;
the warm-up's bone-age training loss stays at 0.74-0.86 (standardised MSE), i.e. the tower
does not fit even the train split. Type and location on fractures: at or below the
train-majority answer. The tower, not the language model, is what lacks the signal.
Measured again 2026-12-07, bone-age head alone (`--only bone_age_months`), val image only:
warm-up lr 3e-4 20.1 (train loss 0.58), 1e-4 24.0; lr 3e-4 with 192 px / patch 16 21.6;
lr 3e-4 without augmentation 26.2 with a train loss of 0.15: the tower can memorise the
train split but what it learns does not carry to val (a small CNN's locality and pooling,
which a from-scratch ViT lacks on ~1100 images). Patch 4 (576 patches) was ~4x slower and
no better after 10 of 40 epochs (loss 0.94); stopped.

pedirad_custom (`--data-dir data/pedirad-custom`, committed sample, 20 warm-up epochs), val:
ROP (stage > 0) 0.852 against 0.586 for the majority answer, zone on ROP eyes 0.830 against
0.604, plus 0.922 against 0.914, fracture 0.921 against 0.513; bone age image only 18.2,
image + age 6.91, chronological 6.92. There the tower does see ROP and its zone, while the
trained model (vision tower trained on during LoRA, the recipe then) answered "no ROP" for
most eyes with ROP (val ROP AUC 0.64): what led to freezing the tower after the warm-up.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from omegaconf import OmegaConf
from sklearn.linear_model import LogisticRegression, RidgeCV

from radtune.io import read_jsonl
from radtune.model.load import load_base
from radtune.model.tiny import build_tiny_base
from radtune.runtime import setup_determinism
from radtune.train import vision_warmup
from radtune.train.data import examples_from_rows
from radtune.train.loop import augment
from radtune.train.run import tokenizer_texts

ALPHAS = np.logspace(-3, 3, 13)


#: (name, does the field apply to this answer, its label): the categorical answers probed
CATEGORICAL = (
    ("fracture", lambda a: "fracture" in a, lambda a: a.get("fracture")),
    ("fracture_type on fractures", lambda a: a.get("fracture") is True, lambda a: a.get("fracture_type")),
    ("location on fractures", lambda a: a.get("fracture") is True, lambda a: a.get("location")),
    ("ROP (stage > 0)", lambda a: "stage" in a, lambda a: (a.get("stage") or 0) > 0),
    ("zone on ROP", lambda a: a.get("zone") is not None, lambda a: a.get("zone")),
    ("plus disease", lambda a: "plus_disease" in a, lambda a: a.get("plus_disease")),
)


def prompt_age(row: dict) -> float:
    """The chronological age in months the prompt gives ("Patient: 34 months old, ...")."""
    return float(row["prompt"].split(" months old")[0].split()[-1])


def features(model, processor, examples: list[dict]) -> np.ndarray:
    with torch.no_grad():
        pv = processor.image_processor([e["image"] for e in examples], return_tensors="pt")["pixel_values"]
        chunks = [vision_warmup.image_features(model, pv[i : i + 64]) for i in range(0, len(pv), 64)]
    return torch.cat(chunks).float().numpy()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=Path("data/pedirad-8k"))
    ap.add_argument("--only", default=None, help="warm up these answer fields only (comma-separated)")
    ap.add_argument("overrides", nargs="*", help="model.<key>=<value> / train.<key>=<value>")
    args = ap.parse_args(argv)
    cfg = OmegaConf.create(
        {"model": OmegaConf.load("conf/model/tiny_gemma3.yaml"), "train": OmegaConf.load("conf/train/lora.yaml")}
    )
    for kv in args.overrides:
        key, value = kv.split("=", 1)
        OmegaConf.update(cfg, key, yaml.safe_load(value))
    model_cfg, train_cfg = OmegaConf.to_container(cfg.model), OmegaConf.to_container(cfg.train)
    if args.only:
        every = vision_warmup.answer_fields
        vision_warmup.answer_fields = lambda ex: {k: v for k, v in every(ex).items() if k in args.only.split(",")}

    setup_determinism(0, int(train_cfg["num_threads"]), True)
    train_rows = read_jsonl(args.data_dir / "jsonl" / "train.jsonl")
    val_rows = read_jsonl(args.data_dir / "jsonl" / "val.jsonl")
    base = Path("/tmp/radtune_probe_base")
    build_tiny_base(model_cfg, tokenizer_texts(train_rows), base, 0)
    model, processor = load_base(model_cfg, train_cfg, base)
    train_ex, val_ex = examples_from_rows(train_rows, args.data_dir), examples_from_rows(val_rows, args.data_dir)
    started = time.perf_counter()
    final = vision_warmup.warmup_vision(
        model,
        processor,
        train_ex,
        train_cfg["vision_warmup"],
        0,
        lambda b: augment(b, float(train_cfg["hflip"]), train_cfg["affine"]),
    )
    print(f"warm-up: {time.perf_counter() - started:.0f} s, {json.dumps(final)}")
    model.eval()
    f_train, f_val = features(model, processor, train_ex), features(model, processor, val_ex)
    a_train, a_val = vision_warmup.answers(train_ex), vision_warmup.answers(val_ex)

    y_train = np.array([a.get("bone_age_months", np.nan) for a in a_train], dtype=float)
    y_val = np.array([a.get("bone_age_months", np.nan) for a in a_val], dtype=float)
    t, v = ~np.isnan(y_train), ~np.isnan(y_val)
    if t.any() and v.any():
        age_t = np.array([prompt_age(r) for r, keep in zip(train_rows, t) if keep])
        age_v = np.array([prompt_age(r) for r, keep in zip(val_rows, v) if keep])
        image_only = RidgeCV(alphas=ALPHAS).fit(f_train[t], y_train[t]).predict(f_val[v])
        with_age = RidgeCV(alphas=ALPHAS).fit(np.c_[f_train[t], age_t], y_train[t]).predict(np.c_[f_val[v], age_v])
        print(
            f"bone age, val MAE (months): image only {np.abs(image_only - y_val[v]).mean():.2f}, "
            f"image + age {np.abs(with_age - y_val[v]).mean():.2f}, chronological {np.abs(age_v - y_val[v]).mean():.2f}"
        )
    for name, applies, label in CATEGORICAL:
        t, v = np.array([applies(a) for a in a_train]), np.array([applies(a) for a in a_val])
        y_t = np.array([json.dumps(label(a)) for a in a_train])[t]
        y_v = np.array([json.dumps(label(a)) for a in a_val])[v]
        if len(set(y_t)) < 2 or not v.any():
            continue
        predicted = LogisticRegression(max_iter=3000).fit(f_train[t], y_t).predict(f_val[v])
        labels, counts = np.unique(y_t, return_counts=True)
        print(
            f"{name}, val accuracy: probe {(predicted == y_v).mean():.3f}, "
            f"train majority {(y_v == labels[counts.argmax()]).mean():.3f} (n {v.sum()})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
