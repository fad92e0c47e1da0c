"""Option-likelihood scoring (radtune.generation.answer_logprobs & co.) with the tiny offline Gemma 3.

The reference computations are independent of the collator: the full conversation rendered
by the processor's chat template, one forward pass of one example, log_softmax by hand."""

import itertools
import json
import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from _vlm_fixture import compose_params, exported_base
from radtune.generation import (
    answer_logprobs,
    answer_token_logprobs,
    field_marginals,
    generate_answers,
    option_probabilities,
)
from radtune.train.collator import VLMCollator, prompt_batch, prompt_messages
from radtune.train.data import examples_from_rows

STEPS = 15


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    root = tmp_path_factory.mktemp("option_scoring")
    model_cfg = OmegaConf.to_container(compose_params().model)
    data, rows, _ = exported_base(root, {"train": 6, "val": 2, "test": 2}, model_cfg)
    processor = AutoProcessor.from_pretrained(root / "base")
    model = AutoModelForImageTextToText.from_pretrained(root / "base").eval()
    examples = examples_from_rows(rows, data)
    # the freshly initialised tiny model answers "\n" to everything (tied embeddings echo the
    # last prompt token): a few seeded training steps on the targets make its greedy answers
    # JSON-like, so that greedy decoding and the candidates' scores are not degenerate
    torch.manual_seed(0)
    collator = VLMCollator(processor)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for step in range(STEPS):
        loss = model(**collator(examples[2 * step % 6 : 2 * step % 6 + 2])).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    return model, processor, rows, examples


def with_answer(messages, text):
    return [*messages[:-1], {"role": "assistant", "content": [{"type": "text", "text": text}]}]


@torch.no_grad()
def reference_token_logprobs(model, processor, example, answer):
    """One example, one forward pass over the chat template's full conversation; the
    log-probabilities of the answer tokens + <end_of_turn> (the template's trailing
    newline after <end_of_turn> is not part of the answer)."""
    tok = processor.tokenizer
    prompt = processor.apply_chat_template(
        prompt_messages(example["messages"]), tokenize=False, add_generation_prompt=True
    )
    full = processor.apply_chat_template(with_answer(example["messages"], answer), tokenize=False)
    assert full.startswith(prompt) and full.endswith("<end_of_turn>\n")
    enc = processor(text=[full], images=[[example["image"]]], return_tensors="pt", add_special_tokens=False)
    n_prompt = len(processor(text=[prompt], images=[[example["image"]]], add_special_tokens=False)["input_ids"][0])
    ids = enc["input_ids"][0]
    assert ids[-2] == tok.convert_tokens_to_ids("<end_of_turn>")
    logp = model(**enc).logits[0].double().log_softmax(-1)
    return [float(logp[t - 1, ids[t]]) for t in range(n_prompt, len(ids) - 1)]


def candidate_texts(rows):
    """Per example: its target plus answers of other lengths (padding differs in a batch)."""
    out = []
    for r in rows:
        t = json.loads(r["target"])
        out.append(
            [
                r["target"],
                json.dumps({**t, "fracture": not t["fracture"]}, separators=(",", ":")),
                '{"fracture":false}',
                "no",
            ]
        )
    return out


def test_logprob_equals_a_hand_computed_single_forward_pass(setup):
    model, processor, rows, examples = setup
    cands = candidate_texts(rows[:3])
    tokens = answer_token_logprobs(model, processor, examples[:3], cands, batch_size=4)
    sums = answer_logprobs(model, processor, examples[:3], cands, batch_size=4)
    for i, j in itertools.product(range(3), range(4)):
        ref = reference_token_logprobs(model, processor, examples[i], cands[i][j])
        assert len(tokens[i][j]) == len(ref)  # answer tokens + <end_of_turn>
        np.testing.assert_allclose(tokens[i][j], ref, atol=1e-5, rtol=0)
        assert sums[i][j] == pytest.approx(math.fsum(ref), abs=1e-4)
        assert isinstance(sums[i][j], float) and sums[i][j] < 0


def test_batching_and_padding_do_not_change_scores(setup):
    model, processor, rows, examples = setup
    cands = candidate_texts(rows[:5])
    cands[1] = cands[1][:2]  # a different number of candidates per example
    one = answer_logprobs(model, processor, examples[:5], cands, batch_size=1)
    for bs in (3, 7, 64):
        got = answer_logprobs(model, processor, examples[:5], cands, batch_size=bs)
        assert [len(c) for c in got] == [len(c) for c in cands]
        np.testing.assert_allclose(np.concatenate(got), np.concatenate(one), atol=1e-5, rtol=0)
    again = answer_logprobs(model, processor, examples[:5], cands, batch_size=7)
    assert again == answer_logprobs(model, processor, examples[:5], cands, batch_size=7)  # deterministic


def roundtrip(tok, ids):
    """The text of `ids` if the collator would tokenize it back to exactly `ids`, else None."""
    text = tok.decode(ids)
    if text != text.strip() or tok(text.strip(), add_special_tokens=False)["input_ids"] != list(ids):
        return None
    return text


def test_greedy_answer_wins_among_one_token_variants(setup):
    """Greedy decoding picks, at every step, the most likely next token: with teacher
    forcing, the greedy answer's token at each position scores >= any other token there,
    so among candidates that share the greedy prefix and differ in their last token the
    argmax of the (answer-token) log-probability is the greedy answer. (The score with the
    closing <end_of_turn> can rank them otherwise: greedy is not a sequence-level search.)"""
    model, processor, rows, examples = setup
    tok = processor.tokenizer
    special = set(tok.all_special_ids) | {tok.convert_tokens_to_ids(t) for t in ("<end_of_turn>", "<start_of_turn>")}
    checked = 0
    for ex in examples[:3]:
        n_new = 6
        greedy_text = generate_answers(model, processor, [ex], batch_size=1, max_new_tokens=n_new)[0]
        batch = prompt_batch(processor, [ex])
        ids = model.generate(**batch, max_new_tokens=n_new, do_sample=False, num_beams=1)
        greedy = [t for t in ids[0, batch["input_ids"].shape[1] :].tolist() if t not in special]
        assert tok.decode(greedy).strip() == greedy_text
        # the longest greedy prefix that survives decode -> collator tokenization
        k = max((k for k in range(1, len(greedy) + 1) if roundtrip(tok, greedy[:k])), default=0)
        if k == 0:
            continue
        answer = roundtrip(tok, greedy[:k])
        variants = []
        for x in range(tok.vocab_size):
            if x != greedy[k - 1] and x not in special:
                text = roundtrip(tok, [*greedy[: k - 1], x])
                if text:
                    variants.append(text)
        assert len(variants) >= 10
        cands = [answer, *variants]
        per_token = answer_token_logprobs(model, processor, [ex], [cands], batch_size=64)[0]
        assert all(len(t) == k + 1 for t in per_token)  # k answer tokens + <end_of_turn>
        # the shared prefix scores the same in every candidate
        for t in per_token[1:]:
            np.testing.assert_allclose(t[: k - 1], per_token[0][: k - 1], atol=1e-5)
        last = [t[k - 1] for t in per_token]
        assert last[0] >= max(last[1:]) - 1e-9
        answer_only = [math.fsum(t[:k]) for t in per_token]
        assert int(np.argmax(answer_only)) == 0
        checked += 1
    assert checked >= 2, "greedy answers did not survive re-tokenization: pick another weight seed"


def test_option_probabilities_is_a_stable_softmax():
    lp = [-1000.0, -1001.0, -1003.5, -math.inf]
    p = option_probabilities(lp)
    ref = np.exp(np.array(lp[:3]) - np.logaddexp.reduce(lp[:3]))
    np.testing.assert_allclose(p[:3], ref, rtol=1e-12)
    assert p[3] == 0.0 and math.fsum(p) == pytest.approx(1.0, abs=1e-15)
    assert option_probabilities([]) == []
    with pytest.raises(ValueError):
        option_probabilities([-math.inf, -math.inf])


ROP = [
    {"zone": None, "stage": 0, "plus_disease": False},
    {"zone": "I", "stage": 1, "plus_disease": False},
    {"zone": "II", "stage": 1, "plus_disease": False},
    {"zone": "II", "stage": 2, "plus_disease": True},
    {"zone": "III", "stage": 1, "plus_disease": False},
    {"zone": "II", "stage": 3, "plus_disease": True},
]


def test_field_marginals_from_model_scores_sum_to_one(setup):
    model, processor, _, examples = setup
    cands = [json.dumps(c, separators=(",", ":")) for c in ROP]
    lp = answer_logprobs(model, processor, examples[:2], [cands, cands], batch_size=8)
    for scores in lp:
        probs = option_probabilities(scores)
        assert math.fsum(probs) == pytest.approx(1.0, abs=1e-12)
        for field in ("zone", "stage", "plus_disease"):
            marg = field_marginals(ROP, probs, field)
            assert set(marg) == {c[field] for c in ROP}
            assert math.fsum(marg.values()) == pytest.approx(1.0, abs=1e-12)
            for value, p in marg.items():
                assert p == pytest.approx(math.fsum(q for c, q in zip(ROP, probs) if c[field] == value), abs=1e-15)
        zone = field_marginals(ROP, probs, "zone")
        assert zone["II"] == pytest.approx(probs[2] + probs[3] + probs[5])
        assert zone[None] == pytest.approx(probs[0])


def test_field_marginals_edge_cases():
    cands = [{"fracture": True, "location": ["a", "b"]}, {"fracture": False}, {"fracture": True}]
    probs = [0.5, 0.3, 0.2]
    assert field_marginals(cands, probs, "fracture") == {True: pytest.approx(0.7), False: pytest.approx(0.3)}
    loc = field_marginals(cands, probs, "location")  # missing field -> None, lists -> tuples
    assert loc == {("a", "b"): 0.5, None: pytest.approx(0.5)}
    with pytest.raises(ValueError):
        field_marginals(cands, probs[:2], "fracture")


def test_mismatched_inputs_are_refused(setup):
    model, processor, _, examples = setup
    with pytest.raises(ValueError, match="candidate lists"):
        answer_logprobs(model, processor, examples[:2], [["no"]], batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        answer_logprobs(model, processor, examples[:1], [["no"]], batch_size=0)
