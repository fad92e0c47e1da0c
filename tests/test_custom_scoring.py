"""pedirad_custom's rows and scoring: ROP AUCs from option likelihoods agree with
scikit-learn, the training mix, prompts and their blanking."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from radtune.export import per_task
from radtune.variants.pedirad_custom import prompts, scoring

ZONES = scoring.ZONES


def _targets(rng: np.random.Generator, n: int) -> list[dict]:
    picks = rng.integers(0, len(scoring.ROP_OPTIONS), n)
    picks[:6] = [0, 0, 1, 11, 21, 22]  # normal eyes and every zone present
    return [scoring.ROP_OPTIONS[i] for i in picks]


def test_rop_options_are_every_valid_answer_once() -> None:
    texts = scoring.ROP_OPTION_TEXTS
    assert len(texts) == len(set(texts)) == 1 + 3 * 5 * 2
    parsed = [json.loads(t) for t in texts]
    assert all(list(p) == ["zone", "stage", "plus_disease"] for p in parsed)
    assert all((p["zone"] is None) == (p["stage"] == 0) for p in parsed)
    assert scoring.answer_options({"task": "rop_screening"}) == texts
    assert scoring.answer_options({"task": "bone_age"}) == []


@pytest.mark.parametrize("seed", range(5))
def test_rop_aucs_from_option_likelihoods_agree_with_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    targets = _targets(rng, 80)
    # log-probs that lean towards the truth, with ties from rounding
    logprobs = rng.normal(size=(80, len(scoring.ROP_OPTIONS))) * 3
    for i, t in enumerate(targets):
        logprobs[i, scoring.ROP_OPTIONS.index(t)] += rng.uniform(0, 4)
    logprobs = np.round(logprobs, 1)
    got = scoring.rop_metrics(targets, [None] * 80, logprobs.tolist(), "II")

    probs = np.exp(logprobs - logprobs.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    plus = probs[:, [o["plus_disease"] for o in scoring.ROP_OPTIONS]].sum(1)
    any_rop = probs[:, [o["stage"] > 0 for o in scoring.ROP_OPTIONS]].sum(1)
    zone = np.stack([probs[:, [o["zone"] == z for o in scoring.ROP_OPTIONS]].sum(1) for z in ZONES], 1)
    rop = np.array([t["zone"] is not None for t in targets])
    zone_given_rop = zone[rop] / zone[rop].sum(1, keepdims=True)
    zone_truth = [t["zone"] for t in targets if t["zone"]]

    assert got["rop_plus_auc"] == pytest.approx(roc_auc_score([t["plus_disease"] for t in targets], plus), abs=1e-4)
    assert got["rop_any_auc"] == pytest.approx(roc_auc_score([t["stage"] > 0 for t in targets], any_rop), abs=1e-4)
    macro = roc_auc_score(zone_truth, zone_given_rop, multi_class="ovr", average="macro", labels=list(ZONES))
    assert got["rop_zone_macro_auc"] == pytest.approx(macro, abs=1e-4)
    for name in ("rop_plus_auc", "rop_any_auc", "rop_zone_macro_auc"):
        lo, hi = got[f"{name}_ci95"]
        assert 0 <= lo <= got[name] <= hi <= 1  # a seeded bootstrap interval around the estimate
    assert got == scoring.rop_metrics(targets, [None] * 80, logprobs.tolist(), "II")  # same inputs, same interval


def test_rop_answers_are_scored_on_the_eyes_they_apply_to() -> None:
    targets = [
        {"zone": "I", "stage": 2, "plus_disease": True},
        {"zone": "I", "stage": 3, "plus_disease": False},
        {"zone": "II", "stage": 1, "plus_disease": False},
        {"zone": None, "stage": 0, "plus_disease": False},
    ]
    answers = [
        {"zone": "I", "stage": 2, "plus_disease": True},
        {"zone": "II", "stage": 3, "plus_disease": False},
        None,  # unparseable: wrong everywhere
        {"zone": None, "stage": 0, "plus_disease": False},
    ]
    m = scoring.rop_metrics(targets, answers, None, "II")
    assert m["zone_i_sensitivity"] == 0.5
    assert m["rop_zone_accuracy_on_rop"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["rop_zone_majority_accuracy_on_rop"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["rop_stage_accuracy"] == 0.75
    assert "rop_plus_auc" not in m  # no likelihoods, no AUC


def _rows(counts: dict[str, int]) -> list[dict]:
    return [
        {"id": f"{task[:2]}{i:03d}", "task": task, "image_path": f"p/{task}/{i}.jpg"}
        for task, n in counts.items()
        for i in range(n)
    ]


def test_balanced_mix_repeats_smaller_tasks_up_to_the_largest() -> None:
    rows = _rows({"bone_age": 7, "rop_screening": 20, "fractures": 3})
    mix = prompts.mixed(rows, "balanced", seed=0)
    tasks = [r["task"] for r in mix]
    assert {t: tasks.count(t) for t in set(tasks)} == {"bone_age": 20, "rop_screening": 20, "fractures": 20}
    assert len({r["id"] for r in mix}) == len(mix)
    originals = {r["id"] for r in rows}
    assert all(r["repeat_of"] in originals for r in mix if "repeat_of" in r)
    assert mix == prompts.mixed(rows, "balanced", seed=0)
    assert prompts.mixed(rows, "balanced", seed=1) != mix
    assert prompts.mixed(rows, "proportional", seed=0) == rows
    assert {t: len(v) for t, v in per_task(mix).items()} == {"bone_age": 7, "rop_screening": 20, "fractures": 3}


def test_prompts_carry_the_patient_and_blank_it() -> None:
    bone = prompts.build_prompt("bone_age", {"age_months": 48, "sex": "F"})
    rop = prompts.build_prompt("rop_screening", {"postmenstrual_age_weeks": 36, "sex": "M"})
    fx = prompts.build_prompt("fractures", {"age_months": 100, "sex": "M", "clinical_context": "fell"})
    assert bone.startswith("Patient: 48 months old, female.")
    assert rop.startswith("Infant: 36 weeks postmenstrual age, male.")
    assert "Clinical context: fell." in fx
    for task, text in (("rop_screening", rop), ("fractures", fx)):
        blank = prompts.blank_text(text)
        assert blank == prompts.build_prompt(task, {}) and "unknown" in blank
    assert prompts.blank_text(bone) == bone  # age and sex are the bone-age reading's inputs, not a shortcut
    assert prompts.blank_text("something else") == "something else"


def test_targets_per_task() -> None:
    assert prompts.build_target("bone_age", {"bone_age_months": 50.6}) == {"bone_age_months": 51}
    assert prompts.build_target("rop_screening", {"zone": None, "stage": 0, "plus_disease": False}) == {
        "zone": None,
        "stage": 0,
        "plus_disease": False,
    }
    fx = prompts.build_target("fractures", {"fracture": True, "fracture_type": "buckle", "location": "distal_radius"})
    assert fx == {"fracture": True, "fracture_type": "buckle", "location": "distal_radius"}
