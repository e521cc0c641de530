# StreamFlow developer commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
UV_VERSION := 0.13.9
VENV := .venv
TOOLS := .tools
UV := $(TOOLS)/bin/uv
BIN := $(VENV)/bin

# Offline-clean: no telemetry, no interpreter downloads.
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export UV_PYTHON_DOWNLOADS := never

.PHONY: help env run stream test lint typecheck unit bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

env: $(VENV)/.synced ## Create or update the virtual environment from uv.lock

run: env ## Run the main job on the embedded defaults (kedro run)
	$(BIN)/kedro run

stream: env ## Score the landed events with the Flink job (local MiniCluster, latest model bundle)
	rm -rf data/07_model_output/stream
	$(BIN)/python -m flink_app score --input data/01_raw/transactions --output data/07_model_output/stream --model latest

test: env lint typecheck ## Lint, type-check and run the whole test suite
	$(BIN)/pytest

unit: env ## Run the tests only
	$(BIN)/pytest

lint: env ## ruff check and format check
	$(BIN)/ruff check src tests flink_app
	$(BIN)/ruff format --check src tests flink_app

typecheck: env ## mypy (strict) on the package
	$(BIN)/mypy

bench: env ## Print the performance figures beside their targets
	$(BIN)/python -m streamflow.bench

clean: ## Remove the environments and caches (data/ is kept)
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
