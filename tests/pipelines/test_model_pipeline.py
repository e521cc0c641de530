"""The whole research-to-production loop on a small generated stream."""

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io.core import Version

from streamflow.core import FEATURE_NAMES
from streamflow.core.forest import ModelBundle
from streamflow.datasets import ModelBundleDataset
from streamflow.devtools.scratch import dispose_cached_sql_engines, make_scratch_project
from streamflow.modeling.champion import Champion
from streamflow.modeling.scoring import score_frame
from tests.conftest import REPO_ROOT
from tests.pipelines.test_medallion_pipeline import _run

SMALL = {"generate": {"n_events": 20_000, "n_stores": 100}}


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One run of the default pipeline, shared by this module's tests (read-only for them)."""
    project = make_scratch_project(REPO_ROOT, tmp_path_factory.mktemp("model") / "project")
    previous = Path.cwd()
    os.chdir(project)
    dispose_cached_sql_engines()
    try:
        _run(project, pipeline="__default__", params=SMALL)
        yield project
    finally:
        dispose_cached_sql_engines()
        os.chdir(previous)


def _latest(folder: Path, name: str) -> Path:
    return sorted(folder.glob(f"*/{name}"))[-1]


def test_model_loop_produces_bundle_metrics_and_plots(trained_project: Path) -> None:
    reporting = trained_project / "data/08_reporting"
    metrics = json.loads(_latest(reporting / "model_metrics.json", "model_metrics.json").read_text())
    assert set(metrics["scorers"]) == {"rules_only", "forest", "blend", "champion"}
    champion = metrics["champion"]  # trained on the outcomes known at the training cut-off, in time order
    assert champion["library"].startswith("lightgbm")
    assert champion["validation_fraud_rows"] > 0
    assert champion["inputs"][-2:] == ["rules_score", "ml_score"]
    ranked = metrics["scorers"]  # learnt from outcomes, the champion ranks fraud better than the blend
    assert ranked["champion"]["average_precision"] > ranked["blend"]["average_precision"]
    for scorer in metrics["scorers"].values():
        assert {
            "auc_roc",
            "average_precision",
            "card_precision_at_k",
            "precision_at_budget",
            "recall_at_budget",
        } <= set(scorer)
        assert scorer["average_precision"] is not None  # the test window has known fraud
    window = metrics["protocol"]  # the delay protocol: training, then a label delay, then the test
    assert window["train_end"] < window["test_start"] <= window["test_end"] < window["evaluation_cutoff"]
    assert metrics["test_fraud_rows"] > 0
    assert metrics["test_pending_rows"] == 0  # the test window ends where its outcomes are mature
    assert _latest(reporting / "shap_summary.png", "shap_summary.png").stat().st_size > 10_000
    assert _latest(reporting / "pr_curve.png", "pr_curve.png").stat().st_size > 10_000
    importance = pd.read_csv(reporting / "feature_importance.csv")
    assert sorted(importance["feature"]) == sorted(FEATURE_NAMES)


def test_latest_bundle_scores_exactly_like_the_trained_forest(trained_project: Path) -> None:
    bundle = ModelBundleDataset(filepath="data/06_models/model_bundle", version=Version(None, None)).load()
    forest_path = _latest(trained_project / "data/06_models/isolation_forest.pkl", "isolation_forest.pkl")
    with forest_path.open("rb") as handle:
        forest = pickle.load(handle)
    holdout = pd.read_parquet(trained_project / "data/05_model_input/holdout_features.parquet")
    columns = holdout[list(FEATURE_NAMES)]  # the forest was fitted on these named columns
    assert np.max(np.abs(bundle.score_samples(columns.to_numpy()) - forest.score_samples(columns))) <= 1e-12
    assert bundle.manifest.feature_names == FEATURE_NAMES
    assert 0.0 < bundle.manifest.alert_threshold < 1.0
    newest_folder = _latest(trained_project / "data/06_models/model_bundle", "model_bundle")
    assert ModelBundle.load(newest_folder).manifest == bundle.manifest


def test_latest_bundle_carries_the_champion_its_walk_equal_to_lightgbm(trained_project: Path) -> None:
    bundle = ModelBundleDataset(filepath="data/06_models/model_bundle", version=Version(None, None)).load()
    saved = _latest(trained_project / "data/06_models/champion_model.json", "champion_model.json")
    champion = Champion.from_dict(json.loads(saved.read_text()))
    assert bundle.manifest.champion is not None
    assert bundle.manifest.champion.inputs == champion.inputs
    holdout = score_frame(pd.read_parquet(trained_project / "data/05_model_input/holdout_features.parquet"), bundle)
    inputs = holdout[list(champion.inputs)].to_numpy(dtype=np.float64)
    assert np.max(np.abs(bundle.champion_probabilities(inputs) - champion.booster.predict(inputs))) <= 1e-12


def test_bundle_explanations_agree_with_tree_shap_on_the_top_feature(trained_project: Path) -> None:
    explanations = pd.read_parquet(trained_project / "data/07_model_output/alert_explanations.parquet")
    assert len(explanations) >= 20
    assert explanations["top_feature_agrees"].mean() >= 0.9


def test_features_cover_every_silver_event(trained_project: Path) -> None:
    features = pd.read_parquet(trained_project / "data/04_feature/transaction_features.parquet")
    silver = pd.read_parquet(trained_project / "data/03_primary/silver_transactions.parquet")
    assert sorted(features["transaction_id"]) == sorted(silver["transaction_id"])


def _tracking_client(project: Path) -> Any:
    import mlflow

    from streamflow.tracking import local_tracking_uri

    return mlflow.MlflowClient(tracking_uri=local_tracking_uri(project))


def test_the_training_run_is_recorded_in_mlflow_with_its_bundle_and_registered_champion(trained_project: Path) -> None:
    import mlflow

    from streamflow.tracking import REGISTERED_MODEL

    assert mlflow.active_run() is None  # the run ended with the pipeline: the next session's is its own
    client = _tracking_client(trained_project)
    runs = client.search_runs([client.get_experiment_by_name("streamflow").experiment_id])
    assert len(runs) == 1  # the default pipeline's run; generation and the medallion record none of their own
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["training.champion.learning_rate"] == "0.05"
    report = json.loads(
        _latest(trained_project / "data/08_reporting/model_metrics.json", "model_metrics.json").read_text()
    )
    champion_ap = report["scorers"]["champion"]["average_precision"]
    assert run.data.metrics["evaluation.champion.average_precision"] == pytest.approx(champion_ap)
    logged = Path(client.download_artifacts(run.info.run_id, "model_bundle", str(trained_project / "downloaded")))
    bundle = ModelBundle.load(logged)  # the logged bundle: every file checksummed, as the catalog's
    latest = _latest(trained_project / "data/06_models/model_bundle", "model_bundle")
    assert sorted(path.read_bytes() for path in logged.iterdir()) == sorted(
        path.read_bytes() for path in latest.iterdir()
    )
    champion = bundle.manifest.champion
    assert champion is not None
    (version,) = client.search_model_versions(f"name = '{REGISTERED_MODEL}'")
    assert version.run_id == run.info.run_id
    assert version.tags == {
        "model_version": champion.model_version,
        "challenger_version": bundle.manifest.model_version,
    }


def test_make_mlflow_serves_the_runs_on_loopback_to_a_browser(trained_project: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from streamflow.devtools.lineage import headless_chromium

    shared_memory = set(Path("/dev/shm").iterdir()) if Path("/dev/shm").is_dir() else set()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(  # what `make mlflow` runs
        [sys.executable, "-m", "streamflow.tracking", "ui", "--port", str(port)],
        cwd=trained_project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert server.poll() is None, "the MLflow UI exited"
                assert time.monotonic() < deadline, "the MLflow UI did not answer within 60 s"
                time.sleep(0.3)
        with headless_chromium() as driver:
            driver.get(f"{url}/#/models/streamflow-champion")
            WebDriverWait(driver, 60).until(lambda d: "Version 1" in d.find_element(By.TAG_NAME, "body").text)
            assert driver.save_screenshot(str(tmp_path / "mlflow.png"))
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its workers, by the PID it started with
        server.wait(timeout=30)
    assert (set(Path("/dev/shm").iterdir()) if Path("/dev/shm").is_dir() else set()) == shared_memory  # nothing left


def test_a_pipeline_mlflow_yml_leaves_untracked_runs_without_mlflow(trained_project: Path) -> None:
    """The evaluation, untracked by a local mlflow.yml: its metrics dataset writes nothing, no run is recorded."""
    local = trained_project / "conf/local/mlflow.yml"
    settings = yaml.safe_load((trained_project / "conf/base/mlflow.yml").read_text())
    settings["tracking"]["disable_tracking"]["pipelines"].append("evaluation")
    local.write_text(yaml.safe_dump(settings))
    try:
        _run(trained_project, pipeline="evaluation", params=SMALL)
    finally:
        local.unlink()
    client = _tracking_client(trained_project)
    assert len(client.search_runs([client.get_experiment_by_name("streamflow").experiment_id])) == 1
