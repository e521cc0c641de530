"""A feature added the public way (``@streamflow.core.feature`` and config) reaches batch, bundle and stream.

As a data scientist would, in a temp project: a module of their own registers the feature, the
config lists it, ``make train`` trains on it, and the stream CLI scores with the bundle. The
feature is in the batch feature table, in the bundle's manifest, and in every scored record of
the stream, with the same value as in the batch table.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.factories import sink_records
from tests.pipelines.test_user_path import _land_history, _make, _project_with_make

TEAM_FEATURES = '''
"""Our team's features."""

from streamflow.core import feature


@feature
def minutes_since_previous(state, event, signals, params):
    """Minutes since the customer's previous event; 0.0 for a first event."""
    if state["event_count"] == 0:
        return 0.0
    return (event["event_time_ms"] - state["last_event_time_ms"]) / 60_000.0
'''
NEW = "minutes_since_previous"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = _project_with_make(tmp_path_factory.mktemp("extension") / "project")
    _land_history(project)
    (project / "src" / "team_features.py").write_text(TEAM_FEATURES, encoding="utf-8")
    config_file = project / "conf/base/parameters_features.yml"
    config = yaml.safe_load(config_file.read_text())
    config["features"]["model"].append(NEW)
    config["features"]["modules"] = ["team_features"]
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    trained = _make(project, "train")
    assert trained.returncode == 0, (trained.stdout + trained.stderr)[-4000:]
    return project


def test_a_registered_feature_is_in_the_batch_table_the_bundle_and_the_stream(project: Path) -> None:
    batch = pd.read_parquet(project / "data/04_feature/transaction_features.parquet").set_index("transaction_id")
    assert NEW in batch.columns
    assert (batch[NEW] > 0).mean() > 0.5  # most events have a previous one
    manifests = list((project / "data/06_models/model_bundle").glob("*/model_bundle/manifest.json"))
    assert json.loads(manifests[0].read_text())["feature_names"][-1] == NEW

    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    # the team's module, importable by the job; flink_app from this checkout (the project's environment)
    environment["PYTHONPATH"] = os.pathsep.join((str(project / "src"), str(REPO_ROOT)))
    output = project / "data/07_model_output/stream"
    command = [sys.executable, "-m", "flink_app", "score", "--conf-dir", "conf", "--input", "data/01_raw/transactions"]
    result = subprocess.run(
        [*command, "--output", str(output), "--model", "latest"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    scored = sink_records(output / "scored")
    assert len(scored) > 15_000
    for record in scored:
        assert record["model_version"].startswith("lgbm-")  # the bundle trained on the new feature: its champion
        assert record["challenger_version"].startswith("iforest-")
        assert list(record["features"])[-1] == NEW
        assert record["features"][NEW] == batch.at[record["transaction_id"], NEW]
