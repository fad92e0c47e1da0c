"""export-jsonl -> train -> merge -> eval on a fixture, through the stage scripts as DVC runs
them; then determinism, exact resume after an interruption, and the merge check."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from _vlm_fixture import REPO, compose_params, make_data_dir, write_params
from pipeline_repo import stage_argv
from radtune import variants
from radtune.export import read_registry_entry
from radtune.io import read_json, read_jsonl
from radtune.merge import MergeMismatch, check_examples_from, merge_adapter
from radtune.train.loop import TrainingInterrupted
from radtune.train.run import run_training

pytestmark = pytest.mark.slow
BLANK = variants.get("pedirad_8k").blank_text  # what stages/train.py passes for the default variant

DATA, MODELS, METRICS = "data/pedirad-8k", "models/pedirad-8k", "metrics/pedirad_8k"
# the commands dvc.yaml runs (paths as params.yaml resolves them)
STAGES = [stage_argv(s, compose_params()) for s in ("export-jsonl", "train", "merge", "eval")]
TRAIN = {
    "train.max_steps": 6,
    "train.save_steps": 2,
    "train.eval_steps": 3,
    "train.logging_steps": 1,
    "train.lora.dropout": 0.1,
    "train.hflip": 0.5,  # dropout + flips: the RNG state must survive a resume
    "train.affine": {"rotate": 10, "scale": 0.1, "translate": 0.06},
    "train.prompt_dropout": 0.5,
    "train.vision_learning_rate": 2e-3,
    "train.label_smoothing": 0.05,
    # the small test tokenizer (vocab 320) spells the longest answer in 95 tokens; eval refuses
    # a budget that would cut it (radtune.evaluate.check_answer_budget)
    "eval.max_new_tokens": 100,
}  # ... and so must these


def run_stage(root, argv):
    proc = subprocess.run(
        [sys.executable, str(REPO / argv[0]), *argv[1:]],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert proc.returncode == 0, f"{argv[0]} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    make_data_dir(root / DATA, {"train": 16, "val": 4, "test": 6})
    write_params(root, overrides=TRAIN)
    logs = {argv[0]: run_stage(root, argv).stdout for argv in STAGES}
    return root, logs


def files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_export_is_deterministic_and_registered(pipeline):
    root, _ = pipeline
    first = files(root / DATA / "jsonl")
    registry = (root / DATA / "dataset_registry.yml").read_bytes()
    run_stage(root, STAGES[0])
    assert files(root / DATA / "jsonl") == first
    assert (root / DATA / "dataset_registry.yml").read_bytes() == registry
    entry = read_registry_entry(root / DATA / "dataset_registry.yml", "pedirad-8k")
    assert entry["counts"] == {"train": 16, "val": 4, "test": 6}
    rows = read_jsonl(root / DATA / "jsonl" / "train.jsonl")
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    ann = {a["image_id"]: a for a in read_json(root / DATA / "annotations" / "train_annotations.json")}
    for r in rows:
        a = ann[r["id"]]
        target = json.loads(r["target"])
        assert list(target) == ["bone_age_months", "fracture", "fracture_type", "location"]
        assert target["fracture"] == a["fracture"] and target["location"] == a["location"]
        assert target["bone_age_months"] == (None if a["bone_age_months"] is None else round(a["bone_age_months"]))
        assert f"{a['age_months']} months old" in r["prompt"]
        assert r["messages"][0]["content"][0] == {"type": "image"}
        assert r["messages"][1]["content"][0]["text"] == r["target"]
        assert (root / DATA / r["image_path"]).is_file()


def test_load_dataset(pipeline):
    from radtune.data import load_dataset

    root, _ = pipeline
    ds = load_dataset("val", data_root=root / DATA)
    assert len(ds) == 4 and {"prompt", "target", "image_path", "messages"} <= set(ds.column_names)
    assert all(os.path.isabs(p) and os.path.isfile(p) for p in ds["image_path"])


def test_train_outputs_card_and_curves(pipeline):
    root, logs = pipeline
    lora = root / MODELS / "lora"
    assert {"adapter_model.safetensors", "adapter_config.json", "README.md"} <= set(os.listdir(lora))
    card = (lora / "README.md").read_text()
    entry = read_registry_entry(root / DATA / "dataset_registry.yml", "pedirad-8k")
    assert "| dataset_provenance_id | pedirad-8k |" in card and entry["content_hash"] in card
    assert not (root / MODELS / "checkpoints").exists()  # removed after a completed run
    summary = read_json(root / METRICS / "train" / "metrics.json")
    assert summary["step"] == 6 and "loss" in summary["val"]
    tsv = (root / METRICS / "train" / "plots" / "metrics" / "train" / "loss.tsv").read_text().splitlines()
    assert tsv[0] == "step\tloss" and len(tsv) == 7
    assert not (root / METRICS / "train" / "dvc.yaml").exists()
    assert "6 steps (resumed from 0)" in logs["stages/train.py"]


def test_identical_bytes_and_exact_resume(pipeline):
    """A second run that is interrupted after step 3 and resumed from the step-2 checkpoint
    gives the same adapter bytes and the same curves as the stage's uninterrupted run."""
    root, _ = pipeline
    cwd = os.getcwd()
    os.chdir(root)
    try:
        p = compose_params(overrides=TRAIN)
        shutil.copytree(MODELS, "first")
        shutil.copytree(f"{METRICS}/train", "first_live")
        shutil.rmtree(f"{MODELS}/lora")
        args = (
            p.model,
            p.train,
            p.seed,
            DATA,
            MODELS,
            "pedirad-8k",
            f"{DATA}/dataset_registry.yml",
            f"{METRICS}/train",
        )
        with pytest.raises(TrainingInterrupted):
            run_training(*args, blank_text=BLANK, stop_after_step=3)
        assert sorted(os.listdir(f"{MODELS}/checkpoints")) == ["step-000002.pt"]
        result = run_training(*args, blank_text=BLANK)
        assert result.resumed_from == 2
        assert files(root / MODELS / "lora") == files(root / "first" / "lora")
        assert files(root / METRICS / "train") == files(root / "first_live")
    finally:
        os.chdir(cwd)


def test_checkpoint_of_other_params_is_not_resumed(pipeline, tmp_path):
    root, _ = pipeline
    cwd = os.getcwd()
    os.chdir(root)
    try:
        p = compose_params(overrides=TRAIN)
        ckpt = tmp_path / "ckpt"
        base = (p.model, p.train, p.seed, DATA, str(tmp_path / "m"), "pedirad-8k", f"{DATA}/dataset_registry.yml", None)
        with pytest.raises(TrainingInterrupted):
            run_training(*base, blank_text=BLANK, checkpoint_dir=ckpt, stop_after_step=2)
        other = compose_params(overrides={**TRAIN, "train.learning_rate": 5e-4})
        result = run_training(other.model, other.train, *base[2:], blank_text=BLANK, checkpoint_dir=ckpt)
        assert result.resumed_from == 0
    finally:
        os.chdir(cwd)


def test_merged_model_loads_and_answers_an_image(pipeline):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from radtune.train.collator import prompt_batch
    from radtune.train.data import examples_from_rows

    root, logs = pipeline
    assert "logits check" in logs["stages/merge.py"]
    merged = root / MODELS / "merged"
    model = AutoModelForImageTextToText.from_pretrained(merged)
    processor = AutoProcessor.from_pretrained(merged)
    assert not any("lora" in n for n, _ in model.named_parameters())
    example = examples_from_rows(read_jsonl(root / DATA / "jsonl" / "test.jsonl")[:1], root / DATA)
    batch = prompt_batch(processor, example)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > batch["input_ids"].shape[1]
    assert isinstance(processor.decode(out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True), str)
    # the saved configs do not record how they were loaded (HF_HUB_OFFLINE would change the bytes)
    assert not any("local_files_only" in p.read_text() for p in merged.glob("*_config.json"))


def test_merge_check_can_fail(pipeline, tmp_path, monkeypatch):
    root, _ = pipeline
    p = compose_params(overrides=TRAIN)
    model_cfg = dict(p.model)
    examples = check_examples_from(root / DATA, "test", 2)
    summary = merge_adapter(
        model_cfg, root / MODELS / "base", root / MODELS / "lora", tmp_path / "ok", examples, atol=1e-4
    )
    assert summary["max_abs_diff"]["merged_float32"] <= 1e-4
    assert (tmp_path / "ok" / "model.safetensors").read_bytes() == (
        root / MODELS / "merged" / "model.safetensors"
    ).read_bytes()
    from peft.tuners.lora import LoraModel

    real_merge = LoraModel.merge_and_unload

    def bad_merge(self, *a, **k):  # a merge that gets one weight slightly wrong
        merged = real_merge(self, *a, **k)
        with torch.no_grad():
            merged.model.multi_modal_projector.mm_input_projection_weight.mul_(1.1)
        return merged

    monkeypatch.setattr(LoraModel, "merge_and_unload", bad_merge)
    with pytest.raises(MergeMismatch, match="differ"):
        merge_adapter(model_cfg, root / MODELS / "base", root / MODELS / "lora", tmp_path / "bad", examples, atol=1e-4)
    assert not (tmp_path / "bad" / "model.safetensors").exists()


def test_eval_outputs(pipeline):
    root, logs = pipeline
    m = read_json(root / METRICS / "eval.json")
    for key in (
        "fracture_f1",
        "fracture_accuracy",
        "fracture_majority_accuracy",
        "bone_age_mae",
        "bone_age_mean_predictor_mae",
        "bone_age_within_2mo",
        "valid_json_rate",
        "n_test",
    ):
        assert key in m, key
    assert m["n_test"] == 6
    assert m["fracture_majority_accuracy"] == 0.5  # the fixture alternates fracture / normal
    for key in ("fracture_accuracy_no_image", "fracture_accuracy_ci95", "bone_age_chronological_mae"):
        assert key in m, key
    assert read_json(root / METRICS / "eval_val.json")["n_val"] == 4
    for name in ("confusion.png", "scores.png", "montage.png"):
        assert (root / METRICS / "eval_figures" / name).stat().st_size > 1000
    assert (root / METRICS / "training_curves.png").stat().st_size > 1000
    preds = read_jsonl(root / METRICS / "eval_predictions.jsonl")
    assert [p["id"] for p in preds] == [r["id"] for r in read_jsonl(root / DATA / "jsonl" / "test.jsonl")]
    # #11 point 9: each answer names its image (as a path from the repository root) and its input file
    for p in preds:
        assert p["image"] == f"{DATA}/processed/test/{p['id']}.jpg" and (root / p["image"]).is_file()
        assert p["source"] == f"site_a/{p['id']}_wrist.dcm"
    assert "eval: test: 6 examples" in logs["stages/eval.py"]


def test_metrics_name_the_data_state(pipeline):
    """#11 point 9: the registry, the training metrics and the eval metrics name the data
    state of the published dataset they were computed on (radtune.datastate)."""
    from radtune.datastate import data_state

    root, _ = pipeline
    state = data_state(root / DATA, [root / DATA / "processed", root / DATA / "annotations"])
    assert read_registry_entry(root / DATA / "dataset_registry.yml", "pedirad-8k")["data_state"] == state
    for name in ("train/metrics.json", "eval.json", "eval_val.json"):
        assert read_json(root / METRICS / name)["data_state"] == state, name


def test_registry_takes_the_dvc_hashes_from_the_lock(tmp_path):
    import yaml

    from radtune.export import locked_hashes

    lock = {
        "schema": "2.0",
        "stages": {
            "augment": {
                "cmd": "x",
                "outs": [
                    {"path": "data/v/processed", "hash": "md5", "md5": "abc.dir"},
                    {"path": "data/v/log.json", "md5": "def"},
                ],
            }
        },
    }
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    got = locked_hashes([Path("data/v/processed"), "data/v/annotations"], tmp_path / "dvc.lock")
    assert got == {"data/v/processed": "abc.dir", "data/v/annotations": None}
    assert locked_hashes(["data/v/processed"], tmp_path / "missing.lock") == {"data/v/processed": None}
