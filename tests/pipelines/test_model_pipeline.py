"""The whole research-to-production loop on a small generated stream."""

import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
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
