"""The variant seam: one package per conf/dataset file, found by name, with the whole interface."""

from __future__ import annotations

import pytest

from radtune import variants
from radtune.errors import ConfigError
from radtune.export import blank_messages, chat_messages
from radtune.variants.base import Variant
from radtune.variants.pedirad_8k.prompts import blank_prompt, build_prompt


def test_unknown_variant_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"dataset\.variant.*ct_v4 \| pedirad_8k.*'pedirad-8k'"):
        variants.get("pedirad-8k")


@pytest.mark.parametrize("name", variants.names())
def test_every_variant_implements_the_interface(name: str) -> None:
    v = variants.get(name)
    assert isinstance(v, Variant) and v.name == name
    assert not getattr(type(v), "__abstractmethods__", set())
    assert all(k.startswith("dataset.") for k in v.param_rules())


def test_pedirad_prompt_blanking_removes_the_patient() -> None:
    v = variants.get("pedirad_8k")
    prompt = build_prompt({"age_months": 48, "sex": "M", "clinical_context": "fell on outstretched hand"})
    assert v.blank_text(prompt) == blank_prompt() and "48" not in blank_prompt()
    blanked = blank_messages(chat_messages(prompt, "{}"), v.blank_text)
    assert blanked[0]["content"][0] == {"type": "image"}
    assert blanked[0]["content"][1]["text"] == blank_prompt() and blanked[1]["content"][0]["text"] == "{}"


def test_ct_prompt_has_nothing_to_blank() -> None:
    assert variants.get("ct_v4").blank_text("Read this head CT slice.") == "Read this head CT slice."
