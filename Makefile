# The two quick-start commands: `make run` (default pipeline) and `make test` (test suite).
# Both create .venv and install the project with the exact versions of requirements.lock first.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Snakemake jobs call the `phasebench` command, papermill and jupyter: they must find the venv's.
export PATH := $(BIN):$(PATH)

.PHONY: setup run test test-fast lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $@

run: $(STAMP)
	$(BIN)/snakemake --cores all

test: $(STAMP)
	bash scripts/ensure-chromium.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

# Everyday lane: no Snakemake workflows, no cluster, no killed training processes.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not slurm"

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf results/data results/runs results/eval results/reports results/logs .snakemake
