"""Vision warm-up (stage 1 for a from-scratch vision tower): targets from the JSON answers,
only the vision tower + projector change, and the features learn to separate the answers."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json

import pytest
import torch
from omegaconf import OmegaConf

from _vlm_fixture import CONF, compose_params, exported_base
from radtune.errors import ConfigError
from radtune.train.data import examples_from_rows
from radtune.train.loop import augment
from radtune.train.vision_warmup import answer_fields, check_warmup, field_targets, is_vision, warmup_vision


def _ex(answer: dict) -> dict:
    return {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "q"}]},
            {"role": "assistant", "content": [{"type": "text", "text": json.dumps(answer)}]},
        ]
    }


def test_fields_and_targets_from_the_answers():
    ex = [
        _ex({"fracture": True, "type": "buckle", "age": 10, "tags": ["x"], "boxes": [{"bbox": [1, 2, 3, 4]}]}),
        _ex({"fracture": False, "type": "none", "age": 30, "tags": []}),
        _ex({"fracture": True, "type": "buckle", "age": None, "tags": ["y", "x"]}),
    ]
    fields = answer_fields(ex)
    assert set(fields) == {"fracture", "type", "age", "tags"}  # lists of boxes are skipped
    assert fields["tags"] == {"kind": "labels", "classes": ["x", "y"]}
    assert fields["fracture"] == {"kind": "class", "classes": ["false", "true"]}
    assert fields["age"]["kind"] == "number" and fields["age"]["mean"] == 20 and fields["age"]["std"] == 10
    t = field_targets(ex, fields)
    assert t["fracture"].tolist() == [1, 0, 1]
    assert t["type"].tolist() == [0, 1, 0]
    assert t["age"][:2].tolist() == [-1.0, 1.0] and torch.isnan(t["age"][2])
    assert t["tags"].tolist() == [[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]]


def test_warmup_needs_the_vision_modules_saved_with_the_adapter():
    cfg = OmegaConf.to_container(OmegaConf.load(CONF / "train" / "lora.yaml"))
    check_warmup(cfg)
    cfg["lora"]["modules_to_save"] = ["multi_modal_projector"]
    with pytest.raises(ConfigError, match="train.vision_warmup.epochs"):
        check_warmup(cfg)


def test_a_frozen_tower_with_no_warmup_on_a_random_base_is_refused():
    """On the tiny (random) base, `vision_learning_rate: 0` without a warm-up would leave the
    vision tower untrained: validation names the key before any work. A pretrained base
    may keep its tower frozen."""
    from radtune.params import validate

    frozen_no_warmup = {"train.vision_learning_rate": 0, "train.vision_warmup.epochs": 0}
    with pytest.raises(ConfigError, match="'train.vision_learning_rate' is 0 .* never be trained"):
        validate(compose_params(train="lora", overrides=frozen_no_warmup))
    validate(compose_params(train="lora"))
    validate(compose_params(train="lora", overrides={**frozen_no_warmup, "train.vision_learning_rate": 1e-4}))
    validate(compose_params(model="medgemma_4b", train="lora", overrides=frozen_no_warmup))


def test_warmup_trains_only_the_vision_side_and_separates_fractures(tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    data, rows, _ = exported_base(
        tmp_path, {"train": 32, "val": 2, "test": 2}, OmegaConf.to_container(compose_params().model)
    )  # the small tiny model
    model = AutoModelForImageTextToText.from_pretrained(tmp_path / "base")
    processor = AutoProcessor.from_pretrained(tmp_path / "base")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    torch.manual_seed(0)
    final = warmup_vision(
        model,
        processor,
        examples_from_rows(rows, data),
        {"epochs": 30, "learning_rate": 3e-3, "batch_size": 8},
        seed=0,
        augment=lambda b: augment(b, 0.0),
        log=lambda s: None,
    )
    assert final["vision_warmup/fracture_accuracy"] >= 0.9, final
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(is_vision(n) for n in changed)
    assert any("vision_tower" in n for n in changed) and any("multi_modal_projector" in n for n in changed)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == grads


@pytest.mark.parametrize("vision_lr", [0, 5e-4])
def test_stage_two_freezes_the_warmed_up_modules_at_vision_learning_rate_0(tmp_path, vision_lr):
    """`train.vision_learning_rate: 0` (the lora recipe): LoRA trains the language model while
    the warmed-up vision tower and projector (saved with the adapter) stay as they are."""
    from transformers import AutoModelForImageTextToText

    from radtune.train.loop import apply_lora, param_groups

    exported_base(tmp_path, {"train": 4, "val": 2, "test": 2}, OmegaConf.to_container(compose_params().model))
    cfg = OmegaConf.to_container(OmegaConf.load(CONF / "train" / "lora.yaml"))
    cfg["vision_learning_rate"] = vision_lr
    model = apply_lora(AutoModelForImageTextToText.from_pretrained(tmp_path / "base"), cfg, seed=0)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    saved = {n for n in trainable if ".modules_to_save." in n}
    assert any("lora_" in n for n in trainable)
    assert bool(saved) == (vision_lr > 0)
    assert len(param_groups(model, cfg)) == (2 if vision_lr > 0 else 1)
