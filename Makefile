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

.PHONY: help env system-packages run train stream test lint typecheck unit bench clean viz viz-check lab notebooks dags

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-15s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --compile-bytecode: every Flink task, test and CLI process imports from .pyc (where
# PYTHONDONTWRITEBYTECODE is set nothing else writes them): a process starts seconds sooner.
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

env: $(VENV)/.synced ## Create or update the virtual environment from uv.lock

STREAM_OUT := data/07_model_output/stream
STREAM_SUMMARY := data/08_reporting/stream_summary.txt

run: env ## The main job on the embedded defaults: kedro run, then the stream (ends with its summary)
	$(BIN)/kedro run
	$(MAKE) --no-print-directory stream

train: env ## Your own data: medallion, outcomes, features, training, packaging, evaluation on what is landed (never generates)
	$(BIN)/kedro run --pipelines train

stream: env ## Replay the landed events through the Flink job (local MiniCluster, latest bundle); alerts into gold
	rm -rf $(STREAM_OUT)   # its checkpoints go with it (STREAM_OUT/state)
	$(BIN)/python -m flink_app score --input data/01_raw/transactions --output $(STREAM_OUT) --model latest \
		--summary-file $(STREAM_SUMMARY)
	$(BIN)/kedro run --pipelines gold   # fact_fraud_alerts loads the stream's alerts
	@echo && cat $(STREAM_SUMMARY)

# As root it installs what is missing (the same script .ci/run runs); otherwise it stops, printing the command.
system-packages: ## Install the system packages the tests need (JDK, PostgreSQL, Chromium, kubectl) if missing
	@tools/install-system-packages --check >/dev/null || tools/install-system-packages

# The Kafka path's jars (Kafka broker, Flink's Kafka connector), pinned in tools/kafka/pom.xml, fetched
# with Maven into .build/kafka/ and checked against tools/kafka/checksums.sha256.
KAFKA_ARTIFACTS := .build/kafka/.checked

$(KAFKA_ARTIFACTS): tools/kafka/pom.xml tools/kafka/checksums.sha256 tools/kafka/fetch
	tools/kafka/fetch

kafka-artifacts: $(KAFKA_ARTIFACTS) ## Fetch the pinned Kafka broker and Flink Kafka connector jars (Maven), checksums checked

test: system-packages env $(KAFKA_ARTIFACTS) lint typecheck ## Lint, type-check and run the whole test suite
	$(BIN)/pytest

unit: env ## Run the tests only
	$(BIN)/pytest

.PHONY: manifests
manifests: env ## Validate the Kubernetes manifests and the Flink image inputs offline (tests/k8s)
	$(BIN)/pytest tests/k8s

lint: env ## ruff check and format check
	$(BIN)/ruff check src tests flink_app
	$(BIN)/ruff format --check src tests flink_app

typecheck: env ## mypy (strict) on the package
	$(BIN)/mypy

bench: env $(KAFKA_ARTIFACTS) ## Print the performance figures beside their targets (batch, then stream, files and Kafka)
	$(BIN)/python -m streamflow.bench
	$(BIN)/python -m flink_app.benchmark --events 200000 --repeats 5

# Pipelines scheduled in Airflow; schedules in conf/base/airflow.yml, template in templates/.
DAG_PIPELINES := medallion,quality,model,dlq_monitor,maintenance

dags: env ## Generate the Airflow 3 DAGs into airflow_dags/ (kedro airflow create; committed)
	$(BIN)/kedro airflow create --pipelines $(DAG_PIPELINES) --jinja-file templates/airflow_dag.py.j2 --target-dir airflow_dags

VIZ_SITE := data/08_reporting/viz

viz: env ## Build the kedro-viz lineage site into data/08_reporting/viz (live: kedro viz run)
	$(BIN)/python -m streamflow.lineage build --output $(VIZ_SITE)

viz-check: viz ## Draw the lineage site in headless Chromium; screenshot in data/08_reporting
	$(BIN)/python -m streamflow.lineage check --site $(VIZ_SITE) --screenshot data/08_reporting/lineage.png

lab: env ## JupyterLab on notebooks/ (installs the nbstripout git filter first)
	$(BIN)/nbstripout --install --attributes .gitattributes
	$(BIN)/jupyter lab --notebook-dir=notebooks

notebooks: env ## Execute every notebook on this project's data (after make run and make stream)
	$(BIN)/pytest --nbmake --nbmake-timeout=600 -p no:cacheprovider notebooks

clean: ## Remove the environments and caches (data/ is kept)
	rm -rf $(VENV) $(TOOLS) build .build .mypy_cache .ruff_cache .pytest_cache
