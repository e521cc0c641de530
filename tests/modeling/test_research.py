import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest

from streamflow.core import FEATURE_NAMES
from streamflow.modeling.research import alpha_sweep, contamination_offsets, contamination_sweep
from streamflow.modeling.training import feature_columns
from streamflow.pipelines.package.nodes import package_model

RNG_SEED = 7


def _features(rows: int, seed: int, prefix: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, len(FEATURE_NAMES)))
    values[rng.random(rows) < 0.05, 0] += 6.0  # a few outliers on the first feature
    frame = pd.DataFrame(values, columns=list(FEATURE_NAMES))
    rules = (values[:, 0] > 4.0).astype(float) * 0.5
    return frame.assign(transaction_id=[f"{prefix}{i}" for i in range(rows)], rules_score=rules)


def _labels(frame: pd.DataFrame) -> pd.DataFrame:
    fraud = frame[FEATURE_NAMES[0]].to_numpy() > 4.0
    return pd.DataFrame(
        {"transaction_id": frame["transaction_id"], "is_fraud": fraud, "pattern": np.where(fraud, "high_value", "none")}
    )


@pytest.fixture(scope="module")
def data() -> tuple[IsolationForest, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    train, holdout = _features(600, RNG_SEED, "t"), _features(300, RNG_SEED + 1, "h")
    forest = IsolationForest(n_estimators=25, random_state=0).fit(feature_columns(train, FEATURE_NAMES))
    return forest, train, holdout, pd.concat([_labels(train), _labels(holdout)], ignore_index=True)


@pytest.mark.parametrize("contamination", [0.01, 0.05, 0.2, 0.5])
def test_contamination_offset_matches_scikit_learn_refit(
    data: tuple[IsolationForest, pd.DataFrame, pd.DataFrame, pd.DataFrame], contamination: float
) -> None:
    forest, train, holdout, _ = data
    refit = IsolationForest(n_estimators=25, random_state=0, contamination=contamination).fit(
        feature_columns(train, FEATURE_NAMES)
    )
    (offset,) = contamination_offsets(forest, train, [contamination])
    assert offset == pytest.approx(refit.offset_, abs=1e-12)
    predicted_outlier = refit.predict(feature_columns(holdout, FEATURE_NAMES)) == -1
    assert np.array_equal(forest.score_samples(feature_columns(holdout, FEATURE_NAMES)) < offset, predicted_outlier)


def test_contamination_sweep_alerts_more_as_contamination_grows(
    data: tuple[IsolationForest, pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    forest, train, holdout, labels = data
    table = contamination_sweep(forest, train, holdout, labels, [0.01, 0.1, 0.3])
    assert table["alert_rate"].is_monotonic_increasing
    assert table["recall"].iloc[-1] >= table["recall"].iloc[0]
    with pytest.raises(ValueError, match="contamination"):
        contamination_offsets(forest, train, [0.0])


def test_alpha_sweep_thresholds_keep_the_target_alert_rate_on_training(
    data: tuple[IsolationForest, pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    forest, train, holdout, labels = data
    split = {"train_start": "2026-01-01", "train_end": "2026-01-21"}
    bundle = package_model(forest, train, split, alpha=0.3, target_alert_rate=0.05)
    table = alpha_sweep(bundle, train, holdout, labels, [0.0, 0.5, 1.0], target_alert_rate=0.05)
    assert table["alpha"].tolist() == [0.0, 0.5, 1.0]
    # alpha 0 is the rules alone: every rule hit is a labelled fraud here
    assert table.loc[0, "precision"] == pytest.approx(1.0)
    assert {"subtle_recall", "threshold", "pr_auc"} <= set(table.columns)
    with pytest.raises(ValueError, match="alpha"):
        alpha_sweep(bundle, train, holdout, labels, [1.5], target_alert_rate=0.05)
