"""The CUDA host path (issue 10), checked on a CPU machine: placement, dtypes, RNG state,
install pins and recipe settings a CUDA run would use, with torch.cuda mocked where needed.
The points of the issue are named in each test's docstring; `test_medgemma_standin.py`
runs train -> merge -> eval on a MedGemma-shaped model, `test_cuda_real.py` does it on a
real GPU when there is one."""

import os
import re
import tomllib

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from _vlm_fixture import REPO, compose_params
from radtune import runtime
from radtune.errors import ConfigError
from radtune.model import load as load_mod
from radtune.params import validate


class FakeModel(torch.nn.Module):
    """Stands in for a loaded model: records where it was moved."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.moved_to = []

    def to(self, *args, **kwargs):
        self.moved_to.append(args[0] if args else kwargs.get("device"))
        return self


@pytest.fixture
def cuda_host(monkeypatch):
    """torch.cuda as a bf16-capable GPU host would show it (nothing is put on a GPU)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [torch.tensor([7, 7], dtype=torch.uint8)])
    restored = []
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)
    return restored


@pytest.fixture
def recorded_loads(monkeypatch):
    """AutoModelForImageTextToText.from_pretrained replaced by a recorder returning FakeModels."""
    import transformers

    calls = []

    def fake(path, **kwargs):
        calls.append((str(path), kwargs))
        return FakeModel()

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", fake)
    monkeypatch.setattr(load_mod, "load_processor", lambda path: "processor")
    return calls


def test_models_follow_the_host_device(cuda_host, recorded_loads):
    """Point 2: train (load_base), merge (load_base unquantised) and eval/predict (load_model)
    put the model on CUDA when the host has it."""
    cfg = compose_params(model="medgemma_4b", train="lora")
    assert runtime.device().type == "cuda"
    model, _ = load_mod.load_base(cfg.model, cfg.train, "google/medgemma-4b-it")
    assert [d.type for d in model.moved_to] == ["cuda"]
    model, _ = load_mod.load_base(cfg.model, None, "google/medgemma-4b-it", quantize=False, dtype=torch.float32)
    assert [d.type for d in model.moved_to] == ["cuda"] and recorded_loads[-1][1]["dtype"] == torch.float32
    assert [d.type for d in load_mod.load_model("merged", cfg.model).moved_to] == ["cuda"]


def test_models_stay_on_the_cpu_without_cuda(monkeypatch, recorded_loads):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = compose_params(model="medgemma_4b", train="lora")
    assert [d.type for d in load_mod.load_model("merged", cfg.model).moved_to] == ["cpu"]


def test_batches_follow_the_model():
    """Point 2: inputs go where the model is, pixel values in its half dtype."""
    model = torch.nn.Linear(1, 1).to(torch.bfloat16)
    model.device, model.dtype = torch.device("cpu"), torch.bfloat16
    out = runtime.batch_to_model({"pixel_values": torch.zeros(1, 3, 2, 2), "input_ids": torch.ones(1, 2)}, model)
    assert out["pixel_values"].dtype == torch.bfloat16 and out["input_ids"].dtype == torch.float32


def test_4bit_load_asks_bitsandbytes_for_the_gpu(cuda_host, recorded_loads, monkeypatch):
    """Point 2: QLoRA places the quantised base on the GPU (not a CPU offload map)."""
    real = load_mod.importlib.util.find_spec
    monkeypatch.setattr(load_mod.importlib.util, "find_spec", lambda n: object() if n == "bitsandbytes" else real(n))
    monkeypatch.setattr(load_mod, "bnb_config", lambda cfg: "bnb")
    cfg = compose_params(model="medgemma_4b", train="qlora")
    load_mod.load_base(cfg.model, cfg.train, "google/medgemma-4b-it")
    kwargs = recorded_loads[-1][1]
    assert kwargs["device_map"] == {"": 0} and kwargs["quantization_config"] == "bnb"
    assert kwargs["dtype"] == torch.bfloat16


def test_gpu_install_is_not_pinned_to_the_cpu_wheel():
    """Point 3: constraints.txt pins the torch version, not the +cpu build (a GPU host gets
    PyPI's CUDA wheel; this machine's pip finds its local CPU wheel of the same version), and
    the gpu extra brings bitsandbytes."""
    pins = [line for line in (REPO / "constraints.txt").read_text().splitlines() if line.startswith("torch==")]
    assert pins and all("+" not in line for line in pins), pins
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert any(dep.startswith("bitsandbytes") for dep in project["optional-dependencies"]["gpu"])
    torch_dep = next(d for d in project["dependencies"] if d.startswith("torch"))
    assert "+" not in torch_dep


def test_qlora_does_not_copy_the_tied_embeddings():
    """Point 4: no lm_head / embed_tokens copies in the QLoRA recipe (Gemma 3 ties them)."""
    for recipe in ("qlora", "lora", "smoke", "gpu_smoke"):
        saved = set(compose_params(model="medgemma_4b", train=recipe).train.lora.modules_to_save or [])
        assert not saved & {"lm_head", "embed_tokens"}, recipe


def test_loss_needs_the_logits_of_answer_positions_only():
    """Point 5: the model is asked for the logits where an answer token is predicted, and
    the loss equals the full-logits cross-entropy over the answer tokens."""
    from radtune.train.collator import IGNORE_INDEX
    from radtune.train.loop import token_loss

    torch.manual_seed(0)
    vocab, hidden = 11, 4
    emb, head = torch.nn.Embedding(vocab, hidden), torch.nn.Linear(hidden, vocab)
    seen = []

    class Tiny(torch.nn.Module):
        def forward(self, input_ids, attention_mask=None, logits_to_keep=0):
            h = emb(input_ids)
            seen.append(logits_to_keep)
            if isinstance(logits_to_keep, torch.Tensor):
                h = h[logits_to_keep]
            return type("Out", (), {"logits": head(h)})

    ids = torch.tensor([[1, 2, 3, 4, 5, 6], [0, 0, 7, 8, 9, 10]])
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[0, 4:], labels[1, 3:] = ids[0, 4:], ids[1, 3:]
    loss, n = token_loss(Tiny(), {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels})
    assert n == 5 and int(seen[0].sum()) == 5  # 5 answer tokens, 5 rows of logits
    full = head(emb(ids))[:, :-1]
    expected = torch.nn.functional.cross_entropy(
        full.reshape(-1, vocab), labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )
    assert torch.allclose(loss, expected)


def test_attention_per_sub_model():
    """Point 5: MedGemma's vision tower runs sdpa, its text model the configured eager."""
    cfg = compose_params(model="medgemma_4b", train="qlora")
    assert load_mod.attn_implementation(cfg.model) == {"": "eager", "text_config": "eager", "vision_config": "sdpa"}


def test_fp16_is_refused_for_gemma3_and_bf16_needs_support(monkeypatch):
    """Point 7: float16 fails validation (and loading); bf16 on a GPU without bf16 is refused."""
    cfg = compose_params(model="medgemma_4b", train="lora", overrides={"model.dtype": "float16"})
    with pytest.raises(ConfigError, match="'model.dtype'"):
        validate(cfg)
    with pytest.raises(ConfigError, match="float16"):
        load_mod.dtype_of({"dtype": "float16"})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with pytest.raises(ConfigError, match="no bf16 support"):
        load_mod.dtype_of({"dtype": "bfloat16"})
    assert load_mod.dtype_of({"dtype": "float32"}) == torch.float32


def test_checkpoints_keep_the_cuda_rng(cuda_host):
    """Point 8: a checkpoint holds the CUDA generators' states and resume puts them back."""
    from radtune.train.checkpoint import checkpoint_state, restore_checkpoint

    model = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    state = checkpoint_state("fp", 3, model, opt, sched, [], [])
    assert state["rng"]["cuda"][0].tolist() == [7, 7]
    restore_checkpoint(state, model, opt, sched)
    assert cuda_host and cuda_host[0][0].tolist() == [7, 7]


def test_cublas_workspace_is_set_before_the_model_is_loaded(cuda_host, monkeypatch, tmp_path):
    """Point 8: the train stage fixes cuBLAS's workspace before any model reaches the GPU."""
    from radtune.train import run as run_mod

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda *a, **k: None)
    monkeypatch.setattr(run_mod, "read_registry_entry", lambda *a: {"content_hash": "x"})
    (tmp_path / "data" / "jsonl").mkdir(parents=True)
    for split in ("train", "val"):
        (tmp_path / "data" / "jsonl" / f"{split}.jsonl").write_text("")
    seen = {}

    def load_base(*a, **k):
        seen["env"] = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
        raise RuntimeError("stop here")

    monkeypatch.setattr(run_mod, "load_base", load_base)
    cfg = compose_params(model="medgemma_4b", train="lora", overrides={"train.vision_warmup.epochs": 0})
    with pytest.raises(RuntimeError, match="stop here"):
        run_mod.run_training(
            cfg.model, cfg.train, 0, tmp_path / "data", tmp_path / "models", "d", tmp_path / "r", None,
            blank_text=str,
        )  # fmt: skip
    assert seen["env"] == runtime.CUBLAS_WORKSPACE


def test_warmup_of_a_pretrained_encoder_is_refused():
    """Point 9: the from-scratch vision warm-up on MedGemma's pretrained encoder fails validation."""
    cfg = compose_params(model="medgemma_4b", train="lora")
    assert cfg.train.vision_warmup.epochs > 0
    with pytest.raises(ConfigError, match="'train.vision_warmup.epochs'.*pretrained"):
        validate(cfg)
    validate(compose_params(model="medgemma_4b", train="qlora"))
    validate(compose_params(model="medgemma_4b", train="lora", overrides={"train.vision_warmup.epochs": 0}))


def test_an_answer_budget_that_cuts_answers_is_refused():
    """Point 9: eval.max_new_tokens shorter than a reference answer fails before generating."""
    from radtune.evaluate import check_answer_budget

    class Tok:
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": re.findall(r"\S", text)}

    rows = [{"target": "x" * 10}, {"target": "y" * 40}]
    check_answer_budget(Tok(), rows, 41)
    with pytest.raises(ConfigError, match=r"'eval.max_new_tokens' is 40.*set it >= 41"):
        check_answer_budget(Tok(), rows, 40)


def test_a_hub_model_that_is_not_cached_is_one_line(monkeypatch):
    """A missing hub model: one line naming model.id, no traceback of OSErrors."""
    import transformers

    def missing(path, **kwargs):
        raise OSError(f"We couldn't connect to 'https://huggingface.co' to load the files of {path}.\nmore")

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", missing)
    with pytest.raises(ConfigError) as e:
        load_mod.from_pretrained("google/medgemma-4b-it", {"dtype": "bfloat16"})
    assert "model.id 'google/medgemma-4b-it'" in str(e.value) and "\n" not in str(e.value)
