# `make repro` and `make test` each create/refresh .venv and do their job.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# a CUDA host: make venv EXTRAS=dev,gpu (bitsandbytes for QLoRA)
EXTRAS ?= dev
export PATH := $(abspath $(BIN)):$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: venv data params repro test lint bench gpu-smoke clean-venv

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[$(EXTRAS)]' 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -c "import radtune, torch, pydicom, dvc, transformers, peft"
	touch $(STAMP)

venv: $(STAMP)

data: venv   ## data/raw: dvc pull, else the deterministic synthetic sample
	$(BIN)/python -m radtune.rawdata

params: venv   ## recompose params.yaml from conf/ (what `dvc exp run` does); DATASET=ct_v4 or EXPERIMENT=ct_v4 (conf/experiment/)
	$(BIN)/python -c "from radtune.params import compose, to_yaml; \
	over = [o for o, v in (('dataset=$(DATASET)', '$(DATASET)'), ('+experiment=$(EXPERIMENT)', '$(EXPERIMENT)')) if v]; \
	open('params.yaml','w').write(to_yaml(compose(over)))"

repro: data
	$(BIN)/dvc repro

gpu-smoke: data   ## on a CUDA host, first: a few QLoRA steps on MedGemma 4B, merge, eval on 8 rows, tokens/s
	$(BIN)/python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu-smoke: no CUDA GPU visible to torch (see README: On a CUDA host)')"
	$(BIN)/dvc exp run -S model=medgemma_4b -S train=gpu_smoke -S eval.max_samples=8 -S eval.batch_size=4

# --dist loadfile: a module's tests share one worker, so its pipeline fixture is built once
# (loadgroup's xdist_group marks are silently ignored under pytest 9.2: pytest-xdist#1386);
# --no-loadscope-reorder: modules in tests/conftest.py's order, the slow pipeline ones first
test: venv
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: venv   ## tables of throughput and memory next to baselines measured in the same run (benchmarks/RESULTS.md)
	$(BIN)/python benchmarks/bench_normalize.py
	$(BIN)/python benchmarks/bench_scale.py
	$(BIN)/python benchmarks/bench_train.py
