# The two quick-start commands: `make run` (default pipeline) and `make test` (test suite).
# Both create .venv and install the project with the exact versions of requirements.lock first:
# `make run` the runtime dependencies only, `make test` the test tools (the `dev` extra) too.
PYTHON ?= python3
# Where PyTorch comes from: its CPU build by default. For a CUDA build name the index of your
# CUDA version (e.g. TORCH_INDEX=https://download.pytorch.org/whl/cu128); empty: your pip's own
# index. The version is the lock's either way. To switch an existing .venv, remove it first.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH := $(shell grep '^torch==' requirements.lock)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
TORCH_STAMP := $(VENV)/.torch-stamp
RUNTIME_STAMP := $(VENV)/.runtime-stamp
DEV_STAMP := $(VENV)/.dev-stamp
COMPILE := $(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null 2>&1 || true
# Snakemake jobs call the `phasebench` command, papermill and jupyter: they must find the venv's.
export PATH := $(BIN):$(PATH)

.PHONY: setup run test test-fast lint clean

setup: $(RUNTIME_STAMP)

# PyTorch alone first, from TORCH_INDEX (its dependencies come with the project below).
# pip byte-compiles the ~15 000 files one by one (~1.5 min here); --no-compile, then compileall on
# every core, does it in half the time. Compiled files are needed: where PYTHONDONTWRITEBYTECODE
# is set (as on this machine) nothing is cached later, and each job would compile its imports.
# `|| true`: like pip, skip the few files written for newer Pythons (torch ships one).
$(TORCH_STAMP): requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile --no-deps $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	touch $@

$(RUNTIME_STAMP): $(TORCH_STAMP) pyproject.toml requirements.lock
	$(BIN)/python -m pip install --quiet --no-compile -c requirements.lock -e .
	$(COMPILE)
	touch $@

$(DEV_STAMP): $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet --no-compile -c requirements.lock -e ".[dev]"
	$(COMPILE)
	touch $@

run: $(RUNTIME_STAMP)
	$(BIN)/snakemake --cores all

# Two pytest-xdist workers; --dist loadfile keeps a test file on one worker, so that the
# pipeline a file's tests share (a module-scoped fixture) runs once; --no-loadscope-reorder hands
# the files out in the order tests/conftest.py gives them (longest first), not by test count.
test: $(DEV_STAMP)
	bash scripts/ensure-chromium.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder

# Everyday lane: no full pipeline, no cluster, no killed-process tests.
test-fast: $(DEV_STAMP)
	$(BIN)/python -m pytest -n 2 -m "not slow and not slurm"

lint: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile workflow/rules

clean:
	rm -rf results/data results/runs results/eval results/reports results/logs .snakemake
