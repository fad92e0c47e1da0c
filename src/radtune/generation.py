"""Greedy batched generation with a Gemma 3-style VLM (used by the eval stage).

`generate_answers(model, processor, examples, batch_size, max_new_tokens)`: the prompts
(radtune.train.collator.prompt_batch, left padding) answered with greedy decoding, one
beam, no sampling, so the answers are deterministic; special tokens are stripped."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from radtune.runtime import batch_to_model, device_name
from radtune.train.collator import prompt_batch


@torch.no_grad()
def generate_answers(
    model, processor, examples: Sequence[Mapping[str, Any]], batch_size: int, max_new_tokens: int
) -> list[str]:
    """Greedy answers (special tokens stripped), in the order of `examples`; prints the
    generation speed (new tokens/s)."""
    from tqdm import tqdm

    model.eval()
    out: list[str] = []
    new_tokens, started = 0, time.perf_counter()
    for i in tqdm(range(0, len(examples), batch_size), desc="eval", disable=not sys.stderr.isatty()):
        batch = batch_to_model(prompt_batch(processor, examples[i : i + batch_size], padding_side="left"), model)
        ids = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
        new = ids[:, batch["input_ids"].shape[1] :]
        new_tokens += int((new != processor.tokenizer.pad_token_id).sum())
        out += [t.strip() for t in processor.batch_decode(new, skip_special_tokens=True)]
    elapsed = time.perf_counter() - started
    print(
        f"eval: {len(examples)} answers on {device_name(model)}, {new_tokens / max(elapsed, 1e-9):.0f} new tokens/s",
        flush=True,
    )
    return out
