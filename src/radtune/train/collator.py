"""Batches for supervised fine-tuning of a Gemma 3-style VLM, loss on the answer only.

Each example is a dict with `messages` (the exported chat pair: user [image, text],
assistant [text]) and `image` (a PIL image). The prompt is rendered with the processor's
own chat template (`add_generation_prompt=True`, so it ends with the model-turn header)
and run through the processor with the image, which expands the image placeholder into
the soft image tokens and returns `pixel_values` and `token_type_ids` (1 exactly on the
image soft tokens). The answer (`<answer text><end_of_turn>`) is tokenized separately and
appended, so the boundary between prompt and answer is exact whatever the tokenizer
merges; prompt + answer is the chat template's rendering of the full conversation.

labels: -100 everywhere except the answer tokens and the end-of-turn token that closes
them, i.e. the prompt, the image tokens and the padding are masked. Padding is on the
right for training; `prompt_batch` (for generation) pads on the left."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

IGNORE_INDEX = -100


def answer_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The assistant turn's text (the exported target)."""
    last = messages[-1]
    if last["role"] != "assistant":
        raise ValueError("the last message must be the assistant's answer")
    content = last["content"]
    if isinstance(content, str):
        return content.strip()
    return "".join(item["text"] for item in content if item.get("type") == "text").strip()


def prompt_messages(messages: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [m for m in messages if m["role"] != "assistant"] if messages[-1]["role"] == "assistant" else list(messages)


def end_of_turn_token(tokenizer) -> str:
    """Gemma's `<end_of_turn>` (the token that closes a model turn)."""
    token = getattr(tokenizer, "eot_token", None) or "<end_of_turn>"
    if tokenizer.convert_tokens_to_ids(token) in (None, tokenizer.unk_token_id):
        raise ValueError(f"tokenizer has no {token!r} token")
    return token


def prompt_batch(
    processor, examples: Sequence[Mapping[str, Any]], padding_side: str = "left"
) -> dict[str, torch.Tensor]:
    """Processor inputs for the prompts alone (ready for `generate`)."""
    texts = [
        processor.apply_chat_template(prompt_messages(e["messages"]), tokenize=False, add_generation_prompt=True)
        for e in examples
    ]
    images = [[e["image"]] for e in examples]
    return processor(
        text=texts,
        images=images,
        return_tensors="pt",
        padding=True,
        padding_side=padding_side,
        add_special_tokens=False,
    )


class VLMCollator:
    """`collator(examples) -> dict(input_ids, attention_mask, token_type_ids, pixel_values, labels)`."""

    def __init__(self, processor, max_length: int | None = None, cache: bool = False):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.eot = end_of_turn_token(self.tokenizer)
        self.pad_id = self.tokenizer.pad_token_id
        self.max_length = max_length
        # cache=True keeps each example's processed prompt + image (keyed by its "id") in
        # memory: the same result, without re-running the processor every epoch. Fine for
        # small images (tiny model), not for 896x896 MedGemma inputs.
        self._cache: dict[str, tuple] | None = {} if cache else None

    def encode(
        self, examples: Sequence[Mapping[str, Any]]
    ) -> list[tuple[list[int], list[int], list[int], torch.Tensor]]:
        """Per example: (prompt ids, prompt token types, answer ids, pixel_values[1, C, H, W])."""
        todo = [e for e in examples if self._cache is None or e["id"] not in self._cache]
        fresh = {}
        if todo:
            prompts = prompt_batch(self.processor, todo, padding_side="right")
            answers = self.tokenizer([answer_text(e["messages"]) + self.eot for e in todo], add_special_tokens=False)[
                "input_ids"
            ]
            for i, (e, answer) in enumerate(zip(todo, answers)):
                n = int(prompts["attention_mask"][i].sum())
                fresh[id(e)] = (
                    prompts["input_ids"][i, :n].tolist(),
                    prompts["token_type_ids"][i, :n].tolist(),
                    list(answer),
                    prompts["pixel_values"][i : i + 1],
                )
                if self._cache is not None:
                    self._cache[e["id"]] = fresh[id(e)]
        return [fresh[id(e)] if id(e) in fresh else self._cache[e["id"]] for e in examples]

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        rows, pixels = [], []
        for ids, types, answer, pv in self.encode(examples):
            n = len(ids)
            rows.append((ids + answer, types + [0] * len(answer), [IGNORE_INDEX] * n + list(answer)))
            pixels.append(pv)
        length = max(len(r[0]) for r in rows)
        if self.max_length is not None and length > self.max_length:
            raise ValueError(
                f"a training sequence has {length} tokens > max_length {self.max_length}; "
                "raise train.max_length or shorten the prompt"
            )
        batch = {
            k: torch.full((len(rows), length), v, dtype=torch.long)
            for k, v in (
                ("input_ids", self.pad_id),
                ("attention_mask", 0),
                ("token_type_ids", 0),
                ("labels", IGNORE_INDEX),
            )
        }
        for i, (ids, types, labels) in enumerate(rows):
            batch["input_ids"][i, : len(ids)] = torch.tensor(ids)
            batch["attention_mask"][i, : len(ids)] = 1
            batch["token_type_ids"][i, : len(ids)] = torch.tensor(types)
            batch["labels"][i, : len(ids)] = torch.tensor(labels)
        batch["pixel_values"] = torch.cat(pixels)
        return batch
