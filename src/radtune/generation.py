"""Greedy batched generation with a Gemma 3-style VLM (used by the eval stage).

`generate_answers(model, processor, examples, batch_size, max_new_tokens)`: the prompts
(radtune.train.collator.prompt_batch, left padding) answered with greedy decoding, one
beam, no sampling, so the answers are deterministic; special tokens are stripped.

Option-likelihood scoring (multiple choice instead of free text):

    lp = answer_logprobs(model, processor, examples, candidates, batch_size)
    probs = option_probabilities(lp[i])              # softmax over example i's candidates
    field_marginals([json.loads(c) for c in candidates[i]], probs, "zone")

`answer_logprobs` is teacher forcing exactly as training sees it: each candidate replaces
the assistant text, radtune.train.collator.VLMCollator builds prompt + image + candidate +
`<end_of_turn>` (right padding), and the candidate's score is the sum, in float64, of the
log-probabilities of the tokens the collator labels (the answer and the end-of-turn token
that closes it). The (example, candidate) pairs are flattened and batched together,
`batch_size` pairs per forward pass; the model runs in eval mode without gradients, so the
scores are deterministic. Note that greedy decoding is not a search for the most likely
sequence: with the end-of-turn token scored, the greedy answer is the most likely only
among candidates that share its tokens up to their last one (see the tests)."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from radtune.runtime import batch_to_model, device_name
from radtune.train.collator import IGNORE_INDEX, VLMCollator, prompt_batch


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


def _with_answer(example: Mapping[str, Any], text: str) -> dict[str, Any]:
    """`example` with the assistant turn's text replaced by `text` (the prompt untouched)."""
    messages = list(example["messages"])
    if not messages or messages[-1]["role"] != "assistant":
        messages.append({"role": "assistant", "content": [{"type": "text", "text": text}]})
    else:
        messages[-1] = {**messages[-1], "content": [{"type": "text", "text": text}]}
    return {**example, "messages": messages}


@torch.no_grad()
def answer_token_logprobs(
    model,
    processor,
    examples: Sequence[Mapping[str, Any]],
    candidates: Sequence[Sequence[str]],
    batch_size: int,
) -> list[list[list[float]]]:
    """Per example, per candidate: the float64 log-probabilities of the candidate's answer
    tokens and of the closing `<end_of_turn>` (the tokens VLMCollator labels), in order.
    `candidates[i]` are the answer texts for `examples[i]` (stripped, as the collator does)."""
    if len(candidates) != len(examples):
        raise ValueError(f"answer_logprobs: {len(examples)} examples but {len(candidates)} candidate lists")
    if batch_size < 1:
        raise ValueError(f"answer_logprobs: batch_size must be >= 1, got {batch_size}")
    pairs = [(i, j) for i, cands in enumerate(candidates) for j in range(len(cands))]
    collator = VLMCollator(processor)
    out: list[list[list[float]]] = [[[] for _ in cands] for cands in candidates]
    model.eval()
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        batch = collator([_with_answer(examples[i], candidates[i][j]) for i, j in chunk])
        labels = batch.pop("labels")
        logits = model(**batch_to_model(batch, model)).logits
        # position t predicts token t + 1: the logits before each labelled token
        for row, (i, j) in enumerate(chunk):
            pos = (labels[row, 1:] != IGNORE_INDEX).nonzero().flatten()
            if len(pos) == 0:
                raise ValueError(f"answer_logprobs: candidate {j} of example {i} has no answer tokens")
            step = logits[row, pos].to(torch.float64).log_softmax(-1).cpu()
            out[i][j] = step.gather(1, labels[row, pos + 1].unsqueeze(1)).squeeze(1).tolist()
    return out


def answer_logprobs(
    model,
    processor,
    examples: Sequence[Mapping[str, Any]],
    candidates: Sequence[Sequence[str]],
    batch_size: int,
) -> list[list[float]]:
    """Per example, per candidate answer text: the summed log-probability (float64) of the
    answer tokens + the closing `<end_of_turn>` after the prompt and image, by teacher
    forcing through the training collator (see the module doc)."""
    tokens = answer_token_logprobs(model, processor, examples, candidates, batch_size)
    return [[math.fsum(t) for t in per_example] for per_example in tokens]


def option_probabilities(logprobs: Sequence[float]) -> list[float]:
    """Softmax over one example's candidate log-probabilities (the model's distribution
    restricted to the candidates); computed stably, sums to 1. -inf scores get 0."""
    if not logprobs:
        return []
    top = max(logprobs)
    if top == -math.inf:
        raise ValueError("option_probabilities: every candidate has log-probability -inf")
    weights = [math.exp(v - top) for v in logprobs]
    total = math.fsum(weights)
    return [w / total for w in weights]


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def field_marginals(
    candidates_json: Sequence[Mapping[str, Any]], probs: Sequence[float], field: str
) -> dict[Any, float]:
    """The marginal probability of each value of `field`: the sum of the probabilities of
    the full-answer candidates that carry it (a candidate without the field counts under
    None; list/dict values become tuples so they can be keys). Values in first-seen order."""
    if len(candidates_json) != len(probs):
        raise ValueError(f"field_marginals: {len(candidates_json)} candidates but {len(probs)} probabilities")
    parts: dict[Any, list[float]] = {}
    for cand, p in zip(candidates_json, probs):
        parts.setdefault(_hashable(cand.get(field)), []).append(float(p))
    return {value: math.fsum(ps) for value, ps in parts.items()}
