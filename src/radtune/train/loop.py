"""LoRA / QLoRA fine-tuning: a plain, seeded torch loop with exact resume.

Why not the HF Trainer: determinism and resume are simplest to guarantee (and to test)
when every source of randomness is explicit:
  - LoRA init: `torch.manual_seed(seed)` right before `get_peft_model`;
  - data order: micro-batch m of the run is slice (m % n_batches) of epoch (m // n_batches)'s
    permutation, drawn from a generator seeded with (seed, epoch) -- independent of resume;
  - dropout: torch's global RNG, whose state is saved in every checkpoint;
  - kernels: `torch.use_deterministic_algorithms(True)` and a fixed `torch.set_num_threads`
    (radtune.runtime.setup_determinism).
Two runs with the same inputs on the same machine give byte-identical adapter files, and a
run interrupted and resumed from its last checkpoint gives the same bytes as one that was
never interrupted.

Checkpoints (`<checkpoint_dir>/step-NNNNNN.pt`: trainable weights, optimizer, scheduler,
RNG state, logged history) are written every `save_steps` optimizer steps, atomically, only
the newest kept. Each carries a fingerprint of everything that determines the run (params,
training data, base weights, the training code); a checkpoint with another fingerprint is
ignored (see radtune.train.checkpoint).
When training completes the checkpoint folder is removed (unless `keep_checkpoints`).

Several processes (`accelerate launch`, radtune.train.ddp): every process runs the same
vision warm-up (same seed and data, so no process waits through another's) and the same
seeded LoRA init, then takes rank 0's trainable weights; micro-batch j of each optimizer
step is run by process j mod N, the loss is divided by the step's answer-token count over
all processes and the gradients are summed over them, so a step is the single-process step
up to float summation order (dropout and augmentation draw from each process's own RNG).
The val batches are divided the same way. Rank 0 alone logs, writes checkpoints, curves
and the adapter. Exact resume is a single-process promise: a resumed multi-process run
continues from the checkpoint with fresh dropout / augmentation draws in ranks > 0.

Curves go to dvclive (`train/loss`, `train/learning_rate`, `val/loss` per optimizer step);
on resume the logged history is replayed so the files equal those of an uninterrupted run.
No wall-clock time is written anywhere."""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from radtune.errors import ConfigError
from radtune.runtime import batch_to_model, device_name, setup_determinism
from radtune.train.checkpoint import (
    canonical_adapter_config,
    checkpoint_state,
    code_fingerprint,
    fingerprint,
    latest_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)
from radtune.train.collator import IGNORE_INDEX, VLMCollator
from radtune.train.ddp import ONE, Ranks, ranks
from radtune.train.vision_warmup import check_warmup, warmup_vision


class TrainingInterrupted(RuntimeError):
    """Raised by the `stop_after_step` hook (tests simulate an interrupted run with it)."""


def lora_config(train_cfg: Mapping[str, Any]):
    from peft import LoraConfig

    lc = train_cfg["lora"]
    target = lc["target_modules"]
    return LoraConfig(
        r=int(lc["r"]),
        lora_alpha=int(lc["alpha"]),
        lora_dropout=float(lc["dropout"]),
        target_modules=list(target) if isinstance(target, Sequence) and not isinstance(target, str) else target,
        exclude_modules=lc.get("exclude_modules") or None,
        modules_to_save=list(lc.get("modules_to_save") or []) or None,
        bias="none",
        task_type="CAUSAL_LM",
    )


def saved_whole(name: str) -> bool:
    """Is this parameter (of the peft-wrapped model) in a module trained and saved whole
    (`lora.modules_to_save`) rather than through LoRA weights?"""
    return ".modules_to_save." in name


def apply_lora(model, train_cfg: Mapping[str, Any], seed: int):
    from peft import get_peft_model

    if train_cfg.get("gradient_checkpointing"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    torch.manual_seed(seed)
    model = get_peft_model(model, lora_config(train_cfg))
    if train_cfg.get("vision_learning_rate") == 0:  # LLaVA's stage 2: the warmed-up modules stay as they are
        for name, p in model.named_parameters():
            if saved_whole(name):
                p.requires_grad_(False)
    return model


def param_groups(model, train_cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """AdamW groups: the LoRA weights at `learning_rate` / `weight_decay`; the fully trained
    modules (`lora.modules_to_save`, e.g. the from-scratch vision tower and projector) at
    `vision_learning_rate` / `vision_weight_decay` when set (null = the LoRA values; a
    `vision_learning_rate` of 0 freezes them: `apply_lora`)."""
    lr, wd = float(train_cfg["learning_rate"]), float(train_cfg["weight_decay"])
    full_lr = train_cfg.get("vision_learning_rate")
    full_wd = train_cfg.get("vision_weight_decay")
    lora, full = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (full if saved_whole(name) else lora).append(p)
    groups = [{"params": lora, "lr": lr, "weight_decay": wd}] if lora else []
    if full:
        groups.append(
            {
                "params": full,
                "lr": float(full_lr) if full_lr is not None else lr,
                "weight_decay": float(full_wd) if full_wd is not None else wd,
            }
        )
    return groups


@dataclass
class Schedule:
    n_examples: int
    batch_size: int
    grad_accum: int
    epochs: float
    max_steps: int = -1

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(self.n_examples / self.batch_size)

    @property
    def total_steps(self) -> int:
        if self.max_steps and self.max_steps > 0:
            return int(self.max_steps)
        return max(1, math.ceil(self.epochs * self.batches_per_epoch / self.grad_accum))

    def micro_batch(self, m: int, seed: int) -> list[int]:
        epoch, k = divmod(m, self.batches_per_epoch)
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        perm = torch.randperm(self.n_examples, generator=g).tolist()
        return perm[k * self.batch_size : (k + 1) * self.batch_size]


def augment(
    batch: dict[str, torch.Tensor], hflip: float, affine: Mapping[str, Any] | None = None
) -> dict[str, torch.Tensor]:
    """Seeded training-time image augmentation on `pixel_values`, drawing from torch's
    global CPU RNG (whose state checkpoints keep; the same draws on a CPU and a GPU host):
      - mirror each image left-right with probability `hflip` (a left wrist looks like a
        mirrored right one);
      - `affine` (optional): a small random rotation (+-`rotate` degrees), isotropic scale
        (1 +- `scale`) and shift (+-`translate` of the image side), i.e. a jittered crop,
        applied to each image with probability `p` (default 1). Border: the image's own
        background value (-1 = black after the processor's normalisation)."""
    pv = batch["pixel_values"]
    n = pv.shape[0]
    if hflip > 0:
        flip = (torch.rand(n) < hflip).to(pv.device)
        pv = torch.where(flip[:, None, None, None], pv.flip(-1), pv)
    aff = dict(affine or {})
    rot, sc, tr = (float(aff.get(k, 0.0) or 0.0) for k in ("rotate", "scale", "translate"))
    if rot > 0 or sc > 0 or tr > 0:
        prob = float(aff.get("p", 1.0))
        u = torch.rand(n, 5).to(pv.device)
        on = (u[:, 4] < prob).float()
        angle = (u[:, 0] * 2 - 1) * math.radians(rot) * on
        scale = 1 + (u[:, 1] * 2 - 1) * sc * on
        shift = (u[:, 2:4] * 2 - 1) * 2 * tr * on[:, None]  # grid units: the side is 2
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
        grid = torch.nn.functional.affine_grid(theta.to(pv.dtype), list(pv.shape), align_corners=False)
        moved = (
            torch.nn.functional.grid_sample(pv + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            - 1
        )
        pv = torch.where(on[:, None, None, None] > 0, moved, pv)
    batch["pixel_values"] = pv
    return batch


def drop_prompt_context(
    examples: Sequence[Mapping[str, Any]], prob: float, seed: int, m: int, blank_text: Callable[[str], str]
) -> list[Mapping[str, Any]]:
    """Modality (prompt) dropout: with probability `prob` per example, replace the prompt by
    `blank_text(prompt)` (the variant's prompt without patient context: age, sex, clinical
    context), so the answer has to come from the image. Seeded by (seed, micro-batch index m): independent of resume. A
    blanked example gets the id `<id>#blank` (the collator caches it separately)."""
    if prob <= 0:
        return list(examples)
    from radtune.export import blank_messages

    g = torch.Generator().manual_seed(seed * 1_000_003 + 7_919 + m)
    drop = (torch.rand(len(examples), generator=g) < prob).tolist()
    return [
        {**e, "id": f"{e['id']}#blank", "messages": blank_messages(e["messages"], blank_text)} if d else e
        for e, d in zip(examples, drop)
    ]


def answer_positions(labels: torch.Tensor) -> torch.Tensor:
    """[B, L] bool: the positions whose next token is an answer token (the only logits the
    loss needs)."""
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    return keep


def token_loss(model, batch: Mapping[str, torch.Tensor], label_smoothing: float = 0.0) -> tuple[torch.Tensor, int]:
    """(sum of answer-token cross-entropies, number of answer tokens). The language-model
    head runs only where an answer token is predicted (`logits_to_keep` = a boolean mask):
    the full-vocabulary logits of every prompt and image position, upcast to fp32, would be
    ~5-6 GB per micro-batch with MedGemma's 262K-token vocabulary, for ~30 tokens that count."""
    labels = batch["labels"]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    keep = answer_positions(labels)
    logits = model(**inputs, logits_to_keep=keep).logits.float()  # [n answer tokens, vocab]
    loss = torch.nn.functional.cross_entropy(
        logits, labels[:, 1:][keep[:, :-1]], reduction="sum", label_smoothing=float(label_smoothing)
    )
    return loss, int(keep.sum())


@torch.no_grad()
def evaluate_loss(
    model, collator: VLMCollator, examples: Sequence[Mapping[str, Any]], batch_size: int, shard: Ranks = ONE
) -> float:
    """Mean answer-token loss; with several processes each runs its share of the batches."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for b in shard.mine(math.ceil(len(examples) / batch_size)):
        i = b * batch_size
        batch = batch_to_model(collator(examples[i : i + batch_size]), model)
        loss, n = token_loss(model, batch)
        total, count = total + float(loss), count + n
    model.train(was_training)
    total, count = shard.sum(total, count)
    return total / max(count, 1)


class Curves:
    """dvclive logging whose files depend only on the logged (step, name, value) history."""

    def __init__(self, live_dir: Path | None, history: list[list]):
        self.history = history
        self.live = None
        if live_dir is not None:
            from dvclive import Live

            self.live = Live(dir=str(live_dir), save_dvc_exp=False, dvcyaml=None, report=None)
            for step, name, value in history:
                self._write(step, name, value)

    def _write(self, step: int, name: str, value: float) -> None:
        self.live.step = step
        self.live.log_metric(name, value)
        self.live.make_summary()

    def log(self, step: int, name: str, value: float) -> None:
        value = round(float(value), 6)
        self.history.append([step, name, value])
        if self.live is not None:
            self._write(step, name, value)

    def end(self) -> None:
        if self.live is not None:
            self.live.end()


@dataclass
class TrainResult:
    steps: int
    resumed_from: int
    final: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # the optimizer steps of this run (after resume), wall-clock: logs and benchmarks only
    tokens: int = 0  # ... and the tokens they saw (over every process)


def train(
    model,
    processor,
    train_examples: Sequence[Mapping[str, Any]],
    val_examples: Sequence[Mapping[str, Any]],
    train_cfg: Mapping[str, Any],
    seed: int,
    out_dir: Path,
    checkpoint_dir: Path,
    live_dir: Path | None,
    run_fingerprint: str,
    blank_text: Callable[[str], str],
    stop_after_step: int | None = None,
    log: Callable[[str], None] = lambda s: print(s, flush=True),
) -> TrainResult:
    """Fine-tune `model` (already loaded, not yet wrapped) and save the adapter to `out_dir`;
    `blank_text` is the variant's prompt blanking (prompt dropout)."""
    if not train_examples:
        raise ConfigError("train: the train split is empty")
    check_warmup(train_cfg)
    r = ranks()
    log = log if r.main else (lambda s: None)  # rank 0 speaks for every process
    setup_determinism(seed, int(train_cfg["num_threads"]), bool(train_cfg.get("deterministic", True)))
    hflip = float(train_cfg.get("hflip", 0.0) or 0.0)
    affine = train_cfg.get("affine") or None
    fp = fingerprint(run_fingerprint, code_fingerprint())
    state = latest_checkpoint(checkpoint_dir, fp)
    if state is None:  # a checkpoint already holds the warmed-up vision weights (modules_to_save)
        warmup_vision(
            model,
            processor,
            train_examples,
            train_cfg.get("vision_warmup") or {},
            seed,
            lambda b: augment(b, hflip, affine),
            log,
        )
    model = apply_lora(model, train_cfg, seed)  # the same init in every process
    model.train()
    collator = VLMCollator(
        processor, max_length=train_cfg.get("max_length"), cache=bool(train_cfg.get("cache_inputs", False))
    )
    prompt_dropout = float(train_cfg.get("prompt_dropout", 0.0) or 0.0)
    smoothing = float(train_cfg.get("label_smoothing", 0.0) or 0.0)
    sched = Schedule(
        len(train_examples),
        int(train_cfg["batch_size"]),
        int(train_cfg["grad_accum"]),
        float(train_cfg["epochs"]),
        int(train_cfg.get("max_steps", -1) or -1),
    )
    total = sched.total_steps
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        param_groups(model, train_cfg),
        lr=float(train_cfg["learning_rate"]),
        weight_decay=float(train_cfg["weight_decay"]),
    )
    from transformers import get_scheduler

    warmup = int(round(float(train_cfg["warmup_ratio"]) * total))
    scheduler = get_scheduler(
        str(train_cfg["lr_scheduler"]), optimizer, num_warmup_steps=warmup, num_training_steps=total
    )
    start, history, running = 0, [], []
    if state is not None:
        start, history, running = restore_checkpoint(state, model, optimizer, scheduler)
        log(f"train: resuming from checkpoint at step {start}/{total}")
    if r.size > 1:
        r.broadcast_(params)  # every process starts from rank 0's weights
        if not r.main:  # ... and draws its own dropout and augmentation
            torch.manual_seed(seed * 1_000_003 + 104_729 * r.rank + start)
        log(f"train: {r.size} processes; micro-batch j of each step runs in process j mod {r.size}")
        if sched.grad_accum % r.size:
            log(f"train: grad_accum {sched.grad_accum} is not a multiple of {r.size}: some processes wait in each step")
    curves = Curves(live_dir if r.main else None, history)
    n_trainable = sum(p.numel() for p in params)
    log(f"train: {len(train_examples)} examples, {total} optimizer steps, {n_trainable} trainable parameters")
    eval_steps, log_steps, save_steps = (int(train_cfg[k]) for k in ("eval_steps", "logging_steps", "save_steps"))
    bs_eval = int(train_cfg.get("eval_batch_size", train_cfg["batch_size"]))
    accum = sched.grad_accum
    from tqdm import tqdm

    bar = tqdm(total=total, initial=start, desc="train", disable=not sys.stderr.isatty() or not r.main)
    seen_tokens, started = 0, time.perf_counter()
    for step in range(start + 1, total + 1):
        micro = [(m, sched.micro_batch(m, seed)) for m in ((step - 1) * accum + j for j in r.mine(accum))]
        tokens = [
            augment(
                collator(drop_prompt_context([train_examples[i] for i in idx], prompt_dropout, seed, m, blank_text)),
                hflip,
                affine,
            )
            for m, idx in micro
        ]
        (n_tokens,) = r.sum(sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in tokens))
        seen_tokens += sum(int(b["attention_mask"].sum()) for b in tokens)
        step_loss = 0.0
        for batch in tokens:  # loss = mean over every answer token of the optimizer step
            loss, _ = token_loss(model, batch_to_model(batch, model), smoothing)
            (loss / max(n_tokens, 1)).backward()
            step_loss += float(loss.detach())
        r.sum_grads_(params)  # several processes: the step's gradient (a no-op in one)
        (step_loss,) = r.sum(step_loss)
        if float(train_cfg.get("max_grad_norm", 0) or 0) > 0:
            torch.nn.utils.clip_grad_norm_(params, float(train_cfg["max_grad_norm"]))
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        running.append(step_loss / max(n_tokens, 1))
        bar.update(1)
        if step % log_steps == 0 or step == total:
            curves.log(step, "train/loss", sum(running) / len(running))
            curves.log(step, "train/learning_rate", scheduler.get_last_lr()[0])
            running = []
        if val_examples and (step % eval_steps == 0 or step == total):
            val_loss = evaluate_loss(model, collator, val_examples, bs_eval, r)
            curves.log(step, "val/loss", val_loss)
            log(f"train: step {step}/{total} val/loss {val_loss:.4f}")
        if r.main and step % save_steps == 0 and step < total:
            save_checkpoint(
                checkpoint_dir, checkpoint_state(fp, step, model, optimizer, scheduler, curves.history, running)
            )
        if stop_after_step is not None and step >= stop_after_step:
            bar.close()
            raise TrainingInterrupted(f"stopped after step {step} (stop_after_step)")
    bar.close()
    elapsed = time.perf_counter() - started
    (seen_tokens,) = r.sum(seen_tokens)
    log(f"train: {total - start} steps on {device_name(model)}, {seen_tokens / max(elapsed, 1e-9):.0f} tokens/s")
    curves.end()
    if r.main:
        out_dir = Path(out_dir)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        model.save_pretrained(str(out_dir))
        canonical_adapter_config(out_dir / "adapter_config.json")
        if not train_cfg.get("keep_checkpoints", False) and Path(checkpoint_dir).exists():
            shutil.rmtree(checkpoint_dir)
    r.barrier()  # the other processes wait for the adapter
    final: dict[str, float] = {}
    for _, name, value in curves.history:
        final[name] = value
    return TrainResult(steps=total, resumed_from=start, final=final, seconds=elapsed, tokens=int(seen_tokens))
