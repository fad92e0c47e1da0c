"""The variant seam: one package per conf/dataset file, found by name, with the whole interface."""

from __future__ import annotations

import pytest

from radtune import variants
from radtune.errors import ConfigError
from radtune.export import blank_messages, chat_messages
from radtune.pediatric import prompt_age_months
from radtune.variants.base import Variant
from radtune.variants.pedirad_8k.prompts import INSTRUCTION, build_prompt, build_target


def test_unknown_variant_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"dataset\.variant.*ct_v4 \| pedirad_8k.*'pedirad-8k'"):
        variants.get("pedirad-8k")


@pytest.mark.parametrize("name", variants.names())
def test_every_variant_implements_the_interface(name: str) -> None:
    v = variants.get(name)
    assert isinstance(v, Variant) and v.name == name
    assert not getattr(type(v), "__abstractmethods__", set())
    assert all(k.startswith("dataset.") for k in v.param_rules())


def test_pedirad_prompt_blanking_removes_the_clinical_context_and_keeps_the_patient() -> None:
    v = variants.get("pedirad_8k")
    prompt = build_prompt({"age_months": 48, "sex": "M", "clinical_context": "fell on outstretched hand"})
    blank = build_prompt({"age_months": 48, "sex": "M"})
    assert v.blank_text(prompt) == blank and "fell" not in blank and "Patient: 48 months old, male." in blank
    assert v.blank_text(blank) == blank and v.blank_text("Read this.") == "Read this."
    blanked = blank_messages(chat_messages(prompt, "{}"), v.blank_text)
    assert blanked[0]["content"][0] == {"type": "image"}
    assert blanked[0]["content"][1]["text"] == blank and blanked[1]["content"][0]["text"] == "{}"


def test_pedirad_bone_age_answer_sits_at_a_fixed_distance_from_the_age() -> None:
    """The age is the last thing before the (fixed) instruction and bone age the first key of
    the answer: however long the clinical context or the fracture fields, the model copies
    the age from the same relative position (val bone-age MAE 15.9 against 22.2 with the
    age first and bone age last)."""
    for context in ("fell", "fell on outstretched hand while playing football at school"):
        prompt = build_prompt({"age_months": 48, "sex": "F", "clinical_context": context})
        assert prompt.endswith(f"Patient: 48 months old, female. {INSTRUCTION}")
        assert prompt_age_months(prompt) == 48
    target = build_target(
        {"fracture": True, "fracture_type": "buckle", "location": "distal_radius", "bone_age_months": 50.6}
    )
    assert list(target) == ["bone_age_months", "fracture", "fracture_type", "location"]
    assert target["bone_age_months"] == 51


def test_ct_prompt_has_nothing_to_blank() -> None:
    assert variants.get("ct_v4").blank_text("Read this head CT slice.") == "Read this head CT slice."
