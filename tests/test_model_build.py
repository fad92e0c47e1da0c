"""The tiny Gemma 3 base builds offline and then behaves like any HF VLM checkpoint."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from omegaconf import OmegaConf

from _vlm_fixture import CONF, exported_base
from radtune.errors import ConfigError
from radtune.io import read_jsonl
from radtune.model.tiny import SPECIAL_TOKENS, build_tiny_base, check_shapes
from radtune.train.collator import VLMCollator
from radtune.train.data import examples_from_rows
from radtune.train.run import tokenizer_texts


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("build")
    cfg = OmegaConf.to_container(OmegaConf.load(CONF / "model" / "tiny_gemma3.yaml"))  # the real default
    data, rows, info = exported_base(root, {"train": 8, "val": 2, "test": 2}, cfg)
    build_tiny_base(cfg, tokenizer_texts(rows), root / "base2", seed=0)
    return root, data, cfg, info


def test_loads_like_any_hf_vlm(built):
    from transformers import AutoModelForImageTextToText, AutoProcessor, Gemma3ForConditionalGeneration, Gemma3Processor

    root, _, cfg, info = built
    for name in ("config.json", "model.safetensors", "tokenizer.json", "processor_config.json", "chat_template.jinja"):
        assert (root / "base" / name).exists(), name
    model = AutoModelForImageTextToText.from_pretrained(root / "base")
    processor = AutoProcessor.from_pretrained(root / "base")
    assert isinstance(model, Gemma3ForConditionalGeneration) and isinstance(processor, Gemma3Processor)
    tok = processor.tokenizer
    assert tok.convert_ids_to_tokens(list(range(len(SPECIAL_TOKENS)))) == list(SPECIAL_TOKENS)
    assert model.config.image_token_id == tok.image_token_id == tok.convert_tokens_to_ids("<image_soft_token>")
    assert model.config.boi_token_id == tok.convert_tokens_to_ids("<start_of_image>")
    assert processor.image_seq_length == model.config.mm_tokens_per_image == cfg["mm_tokens_per_image"]
    assert processor.image_processor.size["height"] == model.config.vision_config.image_size
    assert sum(p.numel() for p in model.parameters()) == info["parameters"]
    text = "Patient: 7 months old, male. ñ 日本"  # bytes the BPE never saw still round-trip
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_build_is_deterministic(built):
    root = built[0]
    for name in ("model.safetensors", "tokenizer.json", "config.json", "processor_config.json"):
        assert (root / "base" / name).read_bytes() == (root / "base2" / name).read_bytes(), name


def test_forward_backward_reaches_the_vision_tower(built):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    root, data, _, _ = built
    model = AutoModelForImageTextToText.from_pretrained(root / "base")
    processor = AutoProcessor.from_pretrained(root / "base")
    batch = VLMCollator(processor)(examples_from_rows(read_jsonl(data / "jsonl" / "train.jsonl")[:2], data))
    out = model(**batch)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    patch = model.model.vision_tower.embeddings.patch_embedding.weight.grad
    assert patch is not None and patch.abs().sum() > 0  # the image matters to the answer


def test_shape_rules_are_checked():
    cfg = OmegaConf.to_container(OmegaConf.load(CONF / "model" / "tiny_gemma3.yaml"))
    check_shapes(cfg)
    with pytest.raises(ConfigError, match="perfect square"):
        check_shapes({**cfg, "mm_tokens_per_image": 10})
    with pytest.raises(ConfigError, match="perfect square"):
        check_shapes({**cfg, "mm_tokens_per_image": 25})  # 5 does not divide 96 // 8 = 12
