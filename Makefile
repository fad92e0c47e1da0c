# `make repro` and `make test` each create/refresh .venv and do their job.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PATH := $(abspath $(BIN)):$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: venv data params repro test lint bench clean-venv

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]' 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -c "import radtune, torch, pydicom, dvc, transformers, peft"
	touch $(STAMP)

venv: $(STAMP)

data: venv   ## data/raw: dvc pull, else the deterministic synthetic sample
	$(BIN)/python -m radtune.rawdata

params: venv   ## recompose params.yaml from conf/ (what `dvc exp run` does); DATASET=ct_v4 picks a variant
	$(BIN)/python -c "from radtune.params import compose, to_yaml; \
	open('params.yaml','w').write(to_yaml(compose(['dataset=$(DATASET)'] if '$(DATASET)' else [])))"

repro: data
	$(BIN)/dvc repro

test: venv
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: venv
	$(BIN)/python benchmarks/bench_normalize.py
