"""LoRA / QLoRA fine-tuning: a plain, seeded torch loop with exact resume.

Why not the HF Trainer: determinism and resume are simplest to guarantee (and to test)
when every source of randomness is explicit:
  - LoRA init: `torch.manual_seed(seed)` right before `get_peft_model`;
  - data order: micro-batch m of the run is slice (m % n_batches) of epoch (m // n_batches)'s
    permutation, drawn from a generator seeded with (seed, epoch) -- independent of resume;
  - dropout: torch's global RNG, whose state is saved in every checkpoint;
  - kernels: `torch.use_deterministic_algorithms(True)` and a fixed `torch.set_num_threads`.
Two runs with the same inputs on the same machine give byte-identical adapter files, and a
run interrupted and resumed from its last checkpoint gives the same bytes as one that was
never interrupted.

Checkpoints (`<checkpoint_dir>/step-NNNNNN.pt`: trainable weights, optimizer, scheduler,
RNG state, logged history) are written every `save_steps` optimizer steps, atomically, only
the newest kept. Each carries a fingerprint of everything that determines the run (params,
training data, base weights, this code); a checkpoint with another fingerprint is ignored.
When training completes the checkpoint folder is removed (unless `keep_checkpoints`).

Curves go to dvclive (`train/loss`, `train/learning_rate`, `val/loss` per optimizer step);
on resume the logged history is replayed so the files equal those of an uninterrupted run.
No wall-clock time is written anywhere."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from radtune.errors import ConfigError
from radtune.train.collator import IGNORE_INDEX, VLMCollator
from radtune.train.vision_warmup import check_warmup, warmup_vision


class TrainingInterrupted(RuntimeError):
    """Raised by the `stop_after_step` hook (tests simulate an interrupted run with it)."""


def setup_determinism(seed: int, num_threads: int, deterministic: bool = True) -> None:
    torch.set_num_threads(int(num_threads))
    if deterministic:
        if torch.cuda.is_available():
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=torch.cuda.is_available())
    torch.manual_seed(seed)


def load_image(path: str | Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("L") if im.mode not in ("L", "RGB") else im.copy()


def examples_from_rows(rows: Sequence[Mapping[str, Any]], data_dir: str | Path) -> list[dict[str, Any]]:
    """Exported JSONL rows -> collator examples (messages + decoded image, in memory)."""
    return [{"id": r["id"], "messages": r["messages"], "image": load_image(Path(data_dir) / r["image_path"])}
            for r in rows]


def lora_config(train_cfg: Mapping[str, Any]):
    from peft import LoraConfig

    lc = train_cfg["lora"]
    target = lc["target_modules"]
    return LoraConfig(
        r=int(lc["r"]), lora_alpha=int(lc["alpha"]), lora_dropout=float(lc["dropout"]),
        target_modules=list(target) if isinstance(target, Sequence) and not isinstance(target, str) else target,
        exclude_modules=lc.get("exclude_modules") or None,
        modules_to_save=list(lc.get("modules_to_save") or []) or None,
        bias="none", task_type="CAUSAL_LM",
    )


def apply_lora(model, train_cfg: Mapping[str, Any], seed: int):
    from peft import get_peft_model

    if train_cfg.get("gradient_checkpointing"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    torch.manual_seed(seed)
    return get_peft_model(model, lora_config(train_cfg))


def param_groups(model, train_cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """AdamW groups: the LoRA weights at `learning_rate` / `weight_decay`; the fully trained
    modules (`lora.modules_to_save`, e.g. the from-scratch vision tower and projector) at
    `vision_learning_rate` / `vision_weight_decay` when set (null = the LoRA values)."""
    lr, wd = float(train_cfg["learning_rate"]), float(train_cfg["weight_decay"])
    full_lr = train_cfg.get("vision_learning_rate")
    full_wd = train_cfg.get("vision_weight_decay")
    lora, full = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (full if ".modules_to_save." in name else lora).append(p)
    groups = [{"params": lora, "lr": lr, "weight_decay": wd}] if lora else []
    if full:
        groups.append({"params": full, "lr": float(full_lr) if full_lr is not None else lr,
                       "weight_decay": float(full_wd) if full_wd is not None else wd})
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
        return perm[k * self.batch_size:(k + 1) * self.batch_size]


def augment(batch: dict[str, torch.Tensor], hflip: float, affine: Mapping[str, Any] | None = None) -> dict[str, torch.Tensor]:
    """Seeded training-time image augmentation on `pixel_values`, drawing from torch's
    global RNG (whose state checkpoints keep):
      - mirror each image left-right with probability `hflip` (a left wrist looks like a
        mirrored right one);
      - `affine` (optional): a small random rotation (+-`rotate` degrees), isotropic scale
        (1 +- `scale`) and shift (+-`translate` of the image side), i.e. a jittered crop,
        applied to each image with probability `p` (default 1). Border: the image's own
        background value (-1 = black after the processor's normalisation)."""
    pv = batch["pixel_values"]
    n = pv.shape[0]
    if hflip > 0:
        flip = torch.rand(n) < hflip
        pv = torch.where(flip[:, None, None, None], pv.flip(-1), pv)
    aff = dict(affine or {})
    rot, sc, tr = (float(aff.get(k, 0.0) or 0.0) for k in ("rotate", "scale", "translate"))
    if rot > 0 or sc > 0 or tr > 0:
        prob = float(aff.get("p", 1.0))
        u = torch.rand(n, 5)
        on = (u[:, 4] < prob).float()
        angle = (u[:, 0] * 2 - 1) * math.radians(rot) * on
        scale = 1 + (u[:, 1] * 2 - 1) * sc * on
        shift = (u[:, 2:4] * 2 - 1) * 2 * tr * on[:, None]     # grid units: the side is 2
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
        grid = torch.nn.functional.affine_grid(theta.to(pv.dtype), list(pv.shape), align_corners=False)
        moved = torch.nn.functional.grid_sample(pv + 1, grid, mode="bilinear", padding_mode="zeros",
                                                align_corners=False) - 1
        pv = torch.where(on[:, None, None, None] > 0, moved, pv)
    batch["pixel_values"] = pv
    return batch


def drop_prompt_context(examples: Sequence[Mapping[str, Any]], prob: float, seed: int, m: int) -> list[Mapping[str, Any]]:
    """Modality (prompt) dropout: with probability `prob` per example, replace the patient
    text of the prompt (age, sex, clinical context) by the blank prompt the exporter writes
    for a record without them (`radtune.export.blank_prompt`), so the answer has to come
    from the image. Seeded by (seed, micro-batch index m): independent of resume. A
    blanked example gets the id `<id>#blank` (the collator caches it separately)."""
    if prob <= 0:
        return list(examples)
    from radtune.export import blank_messages

    g = torch.Generator().manual_seed(seed * 1_000_003 + 7_919 + m)
    drop = (torch.rand(len(examples), generator=g) < prob).tolist()
    return [{**e, "id": f"{e['id']}#blank", "messages": blank_messages(e["messages"])} if d else e
            for e, d in zip(examples, drop)]


def _to_device(batch: Mapping[str, torch.Tensor], model) -> dict[str, torch.Tensor]:
    device, dtype = model.device, model.dtype
    out = {k: v.to(device) for k, v in batch.items()}
    if "pixel_values" in out and dtype in (torch.bfloat16, torch.float16):
        out["pixel_values"] = out["pixel_values"].to(dtype)
    return out


def token_loss(model, batch: Mapping[str, torch.Tensor], label_smoothing: float = 0.0) -> tuple[torch.Tensor, int]:
    """(sum of answer-token cross-entropies, number of answer tokens)."""
    labels = batch["labels"]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs).logits.float()
    shift_logits, shift_labels = logits[:, :-1], labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(shift_logits.reshape(-1, shift_logits.shape[-1]),
                                             shift_labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum",
                                             label_smoothing=float(label_smoothing))
    return loss, int((shift_labels != IGNORE_INDEX).sum())


@torch.no_grad()
def evaluate_loss(model, collator: VLMCollator, examples: Sequence[Mapping[str, Any]], batch_size: int) -> float:
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(examples), batch_size):
        batch = _to_device(collator(examples[i:i + batch_size]), model)
        loss, n = token_loss(model, batch)
        total, count = total + float(loss), count + n
    model.train(was_training)
    return total / max(count, 1)


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def fingerprint(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()


def sha256_path(path: Path) -> str:
    """sha256 over a file, or over (relative name, bytes) of a folder's files."""
    path = Path(path)
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in files:
        h.update(str(p.relative_to(path) if p != path else p.name).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def code_fingerprint() -> str:
    here = Path(__file__).resolve().parent
    return sha256_path(here)[:16] if here.exists() else ""


def latest_checkpoint(ckpt_dir: Path, fp: str) -> dict[str, Any] | None:
    for path in sorted(Path(ckpt_dir).glob("step-*.pt"), reverse=True):
        state = torch.load(path, map_location="cpu", weights_only=False)
        if state.get("fingerprint") == fp:
            return state
        print(f"train: ignoring checkpoint {path} (made with other params/data/code)", file=sys.stderr)
    return None


def save_checkpoint(ckpt_dir: Path, state: dict[str, Any]) -> Path:
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    path = ckpt_dir / f"step-{state['step']:06d}.pt"
    tmp = path.with_suffix(".pt.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    for old in ckpt_dir.glob("step-*.pt"):
        if old != path:
            old.unlink()
    return path


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


def canonical_adapter_config(path: Path) -> None:
    """peft keeps target_modules as a set, so its saved order follows Python's per-process
    string hashing; sort it so that the file's bytes are reproducible."""
    config = json.loads(Path(path).read_text(encoding="utf-8"))
    for key in ("target_modules", "exclude_modules"):
        if isinstance(config.get(key), list):
            config[key] = sorted(config[key])
    Path(path).write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")


@dataclass
class TrainResult:
    steps: int
    resumed_from: int
    final: dict[str, float] = field(default_factory=dict)


def train(model, processor, train_examples: Sequence[Mapping[str, Any]], val_examples: Sequence[Mapping[str, Any]],
          train_cfg: Mapping[str, Any], seed: int, out_dir: Path, checkpoint_dir: Path, live_dir: Path | None,
          run_fingerprint: str, stop_after_step: int | None = None,
          log: Callable[[str], None] = lambda s: print(s, flush=True)) -> TrainResult:
    """Fine-tune `model` (already loaded, not yet wrapped) and save the adapter to `out_dir`."""
    if not train_examples:
        raise ConfigError("train: the train split is empty")
    check_warmup(train_cfg)
    setup_determinism(seed, int(train_cfg["num_threads"]), bool(train_cfg.get("deterministic", True)))
    hflip = float(train_cfg.get("hflip", 0.0) or 0.0)
    affine = train_cfg.get("affine") or None
    fp = fingerprint(run_fingerprint, code_fingerprint())
    state = latest_checkpoint(checkpoint_dir, fp)
    if state is None:   # a checkpoint already holds the warmed-up vision weights (modules_to_save)
        warmup_vision(model, processor, train_examples, train_cfg.get("vision_warmup") or {}, seed,
                      lambda b: augment(b, hflip, affine), log)
    model = apply_lora(model, train_cfg, seed)
    model.train()
    collator = VLMCollator(processor, max_length=train_cfg.get("max_length"),
                           cache=bool(train_cfg.get("cache_inputs", False)))
    prompt_dropout = float(train_cfg.get("prompt_dropout", 0.0) or 0.0)
    smoothing = float(train_cfg.get("label_smoothing", 0.0) or 0.0)
    sched = Schedule(len(train_examples), int(train_cfg["batch_size"]), int(train_cfg["grad_accum"]),
                     float(train_cfg["epochs"]), int(train_cfg.get("max_steps", -1) or -1))
    total = sched.total_steps
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(param_groups(model, train_cfg), lr=float(train_cfg["learning_rate"]),
                                  weight_decay=float(train_cfg["weight_decay"]))
    from transformers import get_scheduler

    warmup = int(round(float(train_cfg["warmup_ratio"]) * total))
    scheduler = get_scheduler(str(train_cfg["lr_scheduler"]), optimizer, num_warmup_steps=warmup,
                              num_training_steps=total)
    start, history, running = 0, [], []
    if state is not None:
        named = dict(model.named_parameters())
        with torch.no_grad():
            for n, t in state["trainable"].items():
                named[n].copy_(t)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        start, history, running = int(state["step"]), state["history"], list(state["running"])
        log(f"train: resuming from checkpoint at step {start}/{total}")
    curves = Curves(live_dir, history)
    n_trainable = sum(p.numel() for p in params)
    log(f"train: {len(train_examples)} examples, {total} optimizer steps, {n_trainable} trainable parameters")
    eval_steps, log_steps, save_steps = (int(train_cfg[k]) for k in ("eval_steps", "logging_steps", "save_steps"))
    bs_eval = int(train_cfg.get("eval_batch_size", train_cfg["batch_size"]))
    accum = sched.grad_accum
    from tqdm import tqdm

    bar = tqdm(total=total, initial=start, desc="train", disable=not sys.stderr.isatty())
    for step in range(start + 1, total + 1):
        micro = [sched.micro_batch((step - 1) * accum + j, seed) for j in range(accum)]
        tokens = [augment(collator(drop_prompt_context([train_examples[i] for i in idx], prompt_dropout, seed,
                                                       (step - 1) * accum + j)), hflip, affine)
                  for j, idx in enumerate(micro)]
        n_tokens = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in tokens)
        step_loss = 0.0
        for batch in tokens:   # loss = mean over every answer token of the optimizer step
            loss, _ = token_loss(model, _to_device(batch, model), smoothing)
            (loss / max(n_tokens, 1)).backward()
            step_loss += float(loss.detach())
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
            val_loss = evaluate_loss(model, collator, val_examples, bs_eval)
            curves.log(step, "val/loss", val_loss)
            log(f"train: step {step}/{total} val/loss {val_loss:.4f}")
        if step % save_steps == 0 and step < total:
            save_checkpoint(checkpoint_dir, {
                "fingerprint": fp, "step": step, "trainable": trainable_state(model),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state(), "history": [list(h) for h in curves.history],
                "running": list(running),
            })
        if stop_after_step is not None and step >= stop_after_step:
            bar.close()
            raise TrainingInterrupted(f"stopped after step {step} (stop_after_step)")
    bar.close()
    curves.end()
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    model.save_pretrained(str(out_dir))
    canonical_adapter_config(out_dir / "adapter_config.json")
    if not train_cfg.get("keep_checkpoints", False) and Path(checkpoint_dir).exists():
        shutil.rmtree(checkpoint_dir)
    final: dict[str, float] = {}
    for _, name, value in curves.history:
        final[name] = value
    return TrainResult(steps=total, resumed_from=start, final=final)
