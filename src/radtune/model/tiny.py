"""A tiny, randomly initialised Gemma 3 vision-language model, built offline.

`build_tiny_base(model_cfg, texts, out_dir, seed)` writes an ordinary Hugging Face model
folder (config.json, generation_config.json, model.safetensors, tokenizer.json,
tokenizer_config.json, processor_config.json, chat_template.jinja, ...) that loads with
`AutoModelForImageTextToText.from_pretrained` + `AutoProcessor.from_pretrained`, exactly
like `google/medgemma-4b-it`; from then on nothing distinguishes the two code paths.

- Tokenizer: a byte-fallback BPE (Gemma's scheme: spaces become "▁", single digits)
  trained with `tokenizers` on the given texts (the exported train prompts
  and answers), with Gemma's special tokens at fixed ids.
- Processor: `Gemma3Processor` = Gemma 3's image processor at the vision tower's
  image_size + the tokenizer + Gemma's chat template; `image_seq_length` =
  `mm_tokens_per_image`.
- Model: `Gemma3ForConditionalGeneration` with a SigLIP vision tower, seeded. Gemma 3
  initialises the multimodal projection to zeros (a pretrained checkpoint overwrites it);
  here it gets a small random init instead, as any real checkpoint has a non-zero one.
  Likewise the (tied) token embeddings get rows of norm `embedding_init_norm` so that the
  output layer can express confident predictions, as a trained checkpoint's can."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import BPE
from tokenizers.trainers import BpeTrainer

from radtune.errors import ConfigError

# Gemma's special tokens, at fixed ids (pad 0, eos 1, bos 2 as in Gemma).
SPECIAL_TOKENS = (
    "<pad>",
    "<eos>",
    "<bos>",
    "<unk>",
    "<mask>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
)
PAD, EOS, BOS, UNK, MASK, SOT, EOT, BOI, EOI, IMAGE = range(len(SPECIAL_TOKENS))
BYTE_TOKENS = tuple(f"<0x{b:02X}>" for b in range(256))

# Gemma 3's chat template (user/assistant turns; an image item renders as <start_of_image>,
# which the processor expands to the image's soft tokens).
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}"
    "{%- endif -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- if (message['role'] == 'assistant') -%}{%- set role = 'model' -%}"
    "{%- else -%}{%- set role = message['role'] -%}{%- endif -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'] | trim }}"
    "{%- elif message['content'] is iterable -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<start_of_image>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- else -%}"
    "{{ raise_exception('Invalid content type') }}"
    "{%- endif -%}"
    "{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


def pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """Words start at "▁" (Gemma's scheme); digits are single tokens (as in Gemma); JSON and
    sentence punctuation are tokens of their own, so no learned piece spans a JSON key and
    its value (each answer field stays a separate decision for the model)."""
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(pattern="▁", behavior="merged_with_next"),
            pre_tokenizers.Split(pattern=Regex(r'[{}\[\]":,;.()/\n]'), behavior="isolated"),
            pre_tokenizers.Digits(individual_digits=True),
        ]
    )


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """A Gemma-style byte-fallback BPE trained on `texts`: ids 0-9 special tokens, 10-265
    byte tokens <0x00>..<0xFF>, then the learned pieces. Deterministic for the same texts."""
    if vocab_size < len(SPECIAL_TOKENS) + len(BYTE_TOKENS) + 16:
        raise ConfigError(
            f"model.tokenizer.vocab_size must be >= {len(SPECIAL_TOKENS) + len(BYTE_TOKENS) + 16}, got {vocab_size}"
        )
    # learn the pieces with the special tokens only; bytes are inserted after training
    tok = Tokenizer(BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizer()
    trainer = BpeTrainer(
        vocab_size=vocab_size - len(BYTE_TOKENS),
        special_tokens=list(SPECIAL_TOKENS),
        show_progress=False,
        min_frequency=2,
    )
    framing = ["user\n", "model\n", "\n\n"] * 4  # the chat template's turn headers
    tok.train_from_iterator(sorted(set(texts)) + framing, trainer=trainer)
    spec = json.loads(tok.to_str())
    learned = [t for t, _ in sorted(spec["model"]["vocab"].items(), key=lambda kv: kv[1]) if t not in SPECIAL_TOKENS]
    vocab = {t: i for i, t in enumerate([*SPECIAL_TOKENS, *BYTE_TOKENS, *[t for t in learned if t not in BYTE_TOKENS]])}
    spec["model"]["vocab"] = vocab
    spec["added_tokens"] = [
        {
            "id": vocab[t],
            "content": t,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for t in SPECIAL_TOKENS
    ]
    spec["decoder"] = json.loads(
        decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]).__getstate__()
    )
    spec["post_processor"] = None
    return Tokenizer.from_str(json.dumps(spec))


def build_hf_tokenizer(tok: Tokenizer):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        extra_special_tokens={
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
            "image_token": "<image_soft_token>",
            "sot_token": "<start_of_turn>",
            "eot_token": "<end_of_turn>",
        },
        padding_side="left",
        model_max_length=4096,
        chat_template=CHAT_TEMPLATE,
    )


def check_shapes(model_cfg: Mapping[str, Any]) -> None:
    v = model_cfg["vision"]
    m = int(model_cfg["mm_tokens_per_image"])
    side = math.isqrt(m)
    patches = v["image_size"] // v["patch_size"]
    if v["image_size"] % v["patch_size"]:
        raise ConfigError(
            f"model.vision.image_size ({v['image_size']}) must be a multiple of "
            f"model.vision.patch_size ({v['patch_size']})"
        )
    if side * side != m or patches % side:
        raise ConfigError(
            f"model.mm_tokens_per_image ({m}) must be a perfect square whose root divides "
            f"image_size // patch_size ({patches})"
        )


def gemma3_config(model_cfg: Mapping[str, Any], vocab_size: int):
    from transformers import Gemma3Config, Gemma3TextConfig, SiglipVisionConfig

    check_shapes(model_cfg)
    t, v = model_cfg["text"], model_cfg["vision"]
    text = Gemma3TextConfig(
        vocab_size=vocab_size,
        hidden_size=t["hidden_size"],
        intermediate_size=t["intermediate_size"],
        num_hidden_layers=t["num_hidden_layers"],
        num_attention_heads=t["num_attention_heads"],
        num_key_value_heads=t["num_key_value_heads"],
        head_dim=t["head_dim"],
        query_pre_attn_scalar=t["head_dim"],
        max_position_embeddings=t["max_position_embeddings"],
        sliding_window=t["sliding_window"],
        pad_token_id=PAD,
        eos_token_id=[EOS, EOT],
        bos_token_id=BOS,
    )
    vision = SiglipVisionConfig(
        hidden_size=v["hidden_size"],
        intermediate_size=v["intermediate_size"],
        num_hidden_layers=v["num_hidden_layers"],
        num_attention_heads=v["num_attention_heads"],
        image_size=v["image_size"],
        patch_size=v["patch_size"],
        num_channels=3,
    )
    return Gemma3Config(
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=int(model_cfg["mm_tokens_per_image"]),
        boi_token_index=BOI,
        eoi_token_index=EOI,
        image_token_index=IMAGE,
    )


def build_processor(tokenizer, model_cfg: Mapping[str, Any]):
    from transformers import Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    size = int(model_cfg["vision"]["image_size"])
    image_processor = Gemma3ImageProcessorPil(
        size={"height": size, "width": size},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        do_convert_rgb=True,
        do_pan_and_scan=False,
    )
    return Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
        image_seq_length=int(model_cfg["mm_tokens_per_image"]),
    )


def build_tiny_base(model_cfg: Mapping[str, Any], texts: Iterable[str], out_dir: Path, seed: int) -> dict[str, Any]:
    """Build tokenizer, processor and model; save them to `out_dir`; return a summary."""
    from transformers import Gemma3ForConditionalGeneration, GenerationConfig

    check_shapes(model_cfg)
    tok = train_tokenizer(texts, int(model_cfg["tokenizer"]["vocab_size"]))
    tokenizer = build_hf_tokenizer(tok)
    processor = build_processor(tokenizer, model_cfg)
    config = gemma3_config(model_cfg, vocab_size=tok.get_vocab_size())
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config)
    with torch.no_grad():
        proj = model.model.multi_modal_projector.mm_input_projection_weight
        proj.normal_(0.0, 1.0 / math.sqrt(proj.shape[0]))
        # Embedding rows of norm ~1.5 (instead of initializer_range 0.02 per element): the
        # tied lm_head reads the unit-RMS final hidden state, so with 0.02 the largest
        # reachable logit margin is ~2.5 and no adapter could make a confident prediction.
        emb = model.get_input_embeddings().weight
        emb.normal_(0.0, float(model_cfg.get("embedding_init_norm", 1.5)) / math.sqrt(emb.shape[1]))
    model.generation_config = GenerationConfig(
        bos_token_id=BOS,
        eos_token_id=[EOS, EOT],
        pad_token_id=PAD,
        do_sample=False,
        max_new_tokens=int(model_cfg.get("max_new_tokens", 64)),
    )
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return {"parameters": sum(p.numel() for p in model.parameters()), "vocab_size": tok.get_vocab_size()}
