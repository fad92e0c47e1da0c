"""The collator: loss only on the answer (+ end of turn); token_type_ids mark the image tokens."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from omegaconf import OmegaConf

from _vlm_fixture import compose_params, exported_base
from radtune.train.collator import IGNORE_INDEX, VLMCollator, prompt_batch
from radtune.train.data import examples_from_rows


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from transformers import AutoProcessor

    root = tmp_path_factory.mktemp("collator")
    model_cfg = OmegaConf.to_container(compose_params().model)
    data, rows, _ = exported_base(root, {"train": 6, "val": 2, "test": 2}, model_cfg)
    processor = AutoProcessor.from_pretrained(root / "base")
    # different prompt and answer lengths in one batch (padding in the middle of the batch)
    rows[1]["messages"][1]["content"][0]["text"] = rows[1]["target"] + " "  # trailing space is trimmed
    return processor, rows, examples_from_rows(rows, data), model_cfg


@pytest.mark.parametrize("cache", [False, True])
def test_only_answer_tokens_are_labelled(setup, cache):
    processor, rows, examples, _ = setup
    tok = processor.tokenizer
    eot = tok.convert_tokens_to_ids("<end_of_turn>")
    collator = VLMCollator(processor, cache=cache)
    first = collator(examples[:4])
    batch = collator(examples[:4])  # the second call is served from the cache
    assert all(torch.equal(first[k], batch[k]) for k in first)
    ids, labels, att = batch["input_ids"], batch["labels"], batch["attention_mask"]
    assert ids.shape == labels.shape == att.shape == batch["token_type_ids"].shape
    for i, row in enumerate(rows[:4]):
        kept = labels[i][labels[i] != IGNORE_INDEX].tolist()
        assert kept[-1] == eot
        assert tok.decode(kept[:-1]) == row["target"]
        pos = (labels[i] != IGNORE_INDEX).nonzero().flatten()
        assert torch.equal(ids[i, pos], labels[i, pos])  # labels are the input tokens
        assert pos.tolist() == list(range(pos[0], pos[0] + len(pos)))  # one contiguous span ...
        n = int(att[i].sum())
        assert pos[-1] == n - 1  # ... that ends the sequence
        assert (labels[i, n:] == IGNORE_INDEX).all() and (ids[i, n:] == tok.pad_token_id).all()
        # what precedes the answer is exactly the chat template's generation prompt
        full = processor.apply_chat_template(row["messages"], tokenize=False)
        prompt_text = tok.decode(ids[i, : pos[0]])
        assert prompt_text + row["target"] + "<end_of_turn>\n" == full.replace(
            "<start_of_image>", processor.full_image_sequence, 1
        )


def test_token_type_ids_mark_exactly_the_image_tokens(setup):
    processor, _, examples, model_cfg = setup
    batch = VLMCollator(processor)(examples[:3])
    image = batch["input_ids"] == processor.tokenizer.image_token_id
    assert torch.equal(batch["token_type_ids"] == 1, image)
    assert (image.sum(1) == model_cfg["mm_tokens_per_image"]).all()
    assert (batch["labels"][image] == IGNORE_INDEX).all()
    size = model_cfg["vision"]["image_size"]
    assert batch["pixel_values"].shape == (3, 3, size, size)


def test_prompt_batch_pads_left_for_generation(setup):
    processor, _, examples, _ = setup
    batch = prompt_batch(processor, examples[:3])
    assert (batch["attention_mask"][:, -1] == 1).all()
    last = processor.tokenizer.decode(batch["input_ids"][0, -8:])
    assert last.endswith("<start_of_turn>model\n")
