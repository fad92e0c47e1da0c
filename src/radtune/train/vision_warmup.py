"""Vision warm-up: supervised pre-training of a from-scratch vision tower before LoRA.

MedGemma's vision encoder arrives pretrained; the tiny model's is random, and a random
vision tower learns very slowly through a language model that does not yet look at it
(the image only decides a few of the ~30 answer tokens). So, for a from-scratch base, the
recipe can first train the vision tower + projector alone, LLaVA-style stage 1: image
features, mean-pooled over the image tokens, feed one linear head per field of the
assistant's JSON answer (cross-entropy for categorical/boolean fields, squared error on
the standardised value for numeric ones, binary cross-entropy per label for lists of
labels such as ct_v4's hemorrhage types), on the train split only. The heads are thrown
away; the LoRA stage then starts from a vision tower whose features already separate the
answers. `train.vision_warmup.epochs: 0` (the MedGemma recipes) skips it.

Seeded and deterministic like the main loop: the data order comes from a generator seeded
with (seed, epoch), augmentation from torch's global RNG after `torch.manual_seed(seed)`."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from radtune.errors import ConfigError
from radtune.metrics import parse_json_prediction
from radtune.train.collator import answer_text

VISION_MODULES = ("vision_tower", "multi_modal_projector")


def check_warmup(train_cfg: Mapping[str, Any]) -> None:
    """The warmed-up weights reach the adapter only as `lora.modules_to_save`."""
    if int((train_cfg.get("vision_warmup") or {}).get("epochs", 0) or 0) > 0:
        saved = set(train_cfg["lora"].get("modules_to_save") or [])
        if not set(VISION_MODULES) <= saved:
            raise ConfigError(
                "train.vision_warmup.epochs > 0 needs train.lora.modules_to_save to include "
                f"{list(VISION_MODULES)} (else the warmed-up weights are not saved)"
            )


def answers(examples: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Each example's assistant answer as a JSON object ({} where it is not one)."""
    return [parse_json_prediction(answer_text(e["messages"])) or {} for e in examples]


def answer_fields(examples: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """{field: {"kind": "class" | "labels", "classes": [...]} | {"kind": "number", "mean": m, "std": s}}
    for every scalar field and every list-of-labels field of the JSON answers (anything
    else, e.g. a list of boxes, is skipped)."""
    values: dict[str, list[Any]] = {}
    for answer in answers(examples):
        for k, v in answer.items():
            if (
                v is None
                or isinstance(v, (str, bool, int, float))
                or (isinstance(v, list) and all(isinstance(x, str) for x in v))
            ):
                values.setdefault(k, []).append(v)
    fields = {}
    for k, vs in sorted(values.items()):
        present = [v for v in vs if v is not None]
        if present and all(isinstance(v, list) for v in present):
            labels = sorted({x for v in present for x in v})
            if labels:
                fields[k] = {"kind": "labels", "classes": labels}
        elif present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            mean = sum(present) / len(present)
            std = math.sqrt(sum((v - mean) ** 2 for v in present) / len(present)) or 1.0
            fields[k] = {"kind": "number", "mean": mean, "std": std}
        else:
            classes = sorted({json.dumps(v) for v in vs})
            if len(classes) > 1:
                fields[k] = {"kind": "class", "classes": classes}
    return fields


def field_targets(
    examples: Sequence[Mapping[str, Any]], fields: Mapping[str, Mapping[str, Any]]
) -> dict[str, torch.Tensor]:
    """Per field: class indices (-100 = missing), multi-hot rows (nan = missing) or
    standardised numbers (nan = missing)."""
    parsed = answers(examples)
    out = {}
    for k, f in fields.items():
        if f["kind"] == "class":
            index = {c: i for i, c in enumerate(f["classes"])}
            out[k] = torch.tensor([index.get(json.dumps(a.get(k)), -100) if k in a else -100 for a in parsed])
        elif f["kind"] == "labels":
            out[k] = torch.tensor(
                [
                    [float(c in a[k]) for c in f["classes"]]
                    if isinstance(a.get(k), list)
                    else [math.nan] * len(f["classes"])
                    for a in parsed
                ]
            )
        else:
            out[k] = torch.tensor(
                [
                    (float(a[k]) - f["mean"]) / f["std"] if isinstance(a.get(k), (int, float)) else math.nan
                    for a in parsed
                ]
            )
    return out


def is_vision(name: str) -> bool:
    return any(f"{m}." in name for m in VISION_MODULES)


def image_features(model, pixel_values: torch.Tensor) -> torch.Tensor:
    """The projected image tokens the language model receives, mean-pooled: [B, hidden]."""
    feats = model.get_image_features(pixel_values=pixel_values)
    feats = getattr(feats, "pooler_output", feats)
    return feats.mean(dim=1)


def warmup_vision(
    model,
    processor,
    examples: Sequence[Mapping[str, Any]],
    cfg: Mapping[str, Any],
    seed: int,
    augment: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]],
    log: Callable[[str], None] = lambda s: print(s, flush=True),
) -> dict[str, float]:
    """Train the vision tower + projector of `model` (unwrapped) in place; returns the final
    training loss and accuracy of each categorical head (on the last epoch's batches)."""
    epochs = int(cfg.get("epochs", 0) or 0)
    if epochs <= 0 or not examples:
        return {}
    fields = answer_fields(examples)
    if not fields:
        return {}
    targets = field_targets(examples, fields)
    torch.manual_seed(seed)
    hidden = model.config.text_config.hidden_size
    heads = torch.nn.ModuleDict(
        {k: torch.nn.Linear(hidden, len(f["classes"]) if "classes" in f else 1) for k, f in fields.items()}
    ).to(model.device)
    vision = [p for n, p in model.named_parameters() if is_vision(n)]
    frozen = {n: p.requires_grad for n, p in model.named_parameters()}
    for n, p in model.named_parameters():
        p.requires_grad_(is_vision(n))
    images = processor.image_processor([e["image"] for e in examples], return_tensors="pt")["pixel_values"]
    bs = int(cfg.get("batch_size", 16))
    steps = epochs * math.ceil(len(examples) / bs)
    opt = torch.optim.AdamW(
        vision + list(heads.parameters()),
        lr=float(cfg.get("learning_rate", 1e-3)),
        weight_decay=float(cfg.get("weight_decay", 0.05)),
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=float(cfg.get("learning_rate", 1e-3)), total_steps=steps, pct_start=0.1, anneal_strategy="cos"
    )
    model.train()
    final: dict[str, float] = {}
    for epoch in range(epochs):
        g = torch.Generator().manual_seed(seed * 100_003 + 50_000 + epoch)
        perm = torch.randperm(len(examples), generator=g)
        total, correct, seen = 0.0, {k: 0 for k in fields}, {k: 0 for k in fields}
        for i in range(0, len(examples), bs):
            idx = perm[i : i + bs]
            pv = augment({"pixel_values": images[idx]})["pixel_values"].to(model.device, model.dtype)
            feats = image_features(model, pv).float()
            loss = feats.new_zeros(())
            for k, f in fields.items():
                out, y = heads[k](feats), targets[k][idx].to(feats.device)
                if f["kind"] == "class":
                    if (y != -100).any():
                        loss = loss + torch.nn.functional.cross_entropy(out, y, ignore_index=-100)
                        ok = y != -100
                        correct[k] += int((out.argmax(-1)[ok] == y[ok]).sum())
                        seen[k] += int(ok.sum())
                elif f["kind"] == "labels":
                    ok = ~torch.isnan(y[:, 0])
                    if ok.any():
                        loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(out[ok], y[ok])
                        correct[k] += int(((out[ok] > 0).float() == y[ok]).all(-1).sum())
                        seen[k] += int(ok.sum())
                else:
                    ok = ~torch.isnan(y)
                    if ok.any():
                        loss = loss + torch.nn.functional.mse_loss(out[ok, 0], y[ok])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        final = {"vision_warmup/loss": total / len(examples)}
        final |= {f"vision_warmup/{k}_accuracy": correct[k] / seen[k] for k in fields if seen[k]}
        if epoch == epochs - 1 or (epoch + 1) % max(1, epochs // 4) == 0:
            log(
                f"train: vision warm-up epoch {epoch + 1}/{epochs} "
                + " ".join(f"{k.split('/')[-1]} {v:.3f}" for k, v in final.items())
            )
    for n, p in model.named_parameters():
        p.requires_grad_(frozen[n])
    return final
