"""The supervised champion: labels known at the training cut-off, time-ordered validation, the blacklist override."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streamflow.core.forest import ModelBundle, ModelBundleCorruptError, ModelFeatureError, ModelFormatError
from streamflow.core.rules import RULE_IDS
from streamflow.devtools.stream_benchmark import synthetic_bundle
from streamflow.modeling.champion import (
    Champion,
    ChampionParams,
    champion_inputs,
    train_champion,
    training_labels,
)
from streamflow.modeling.packaging import with_champion
from streamflow.modeling.protocol import DAY_MS, Windows

FEATURES = ("amount_zscore", "velocity_count")
START_MS = 1_700_000_000_000


def _training_window(n_rows: int = 4000, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """Ten days of rows; fraud (about 2%) is a high z-score with a burst of payments, and some noise."""
    rng = np.random.default_rng(seed)
    zscore, velocity = rng.normal(size=n_rows), rng.poisson(1.0, size=n_rows).astype(float)
    is_fraud = (zscore > 1.5) & (velocity >= 2) | (rng.random(n_rows) < 0.002)
    frame = pd.DataFrame(
        {
            "transaction_id": [f"t{index}" for index in range(n_rows)],
            "event_time_ms": START_MS + np.sort(rng.integers(0, 10 * DAY_MS, size=n_rows)),
            "amount_zscore": zscore,
            "velocity_count": velocity,
            **{rule_id: False for rule_id in RULE_IDS},
            "rules_score": 0.0,
            "ml_score": rng.random(n_rows),
        }
    )
    return frame, is_fraud


def _windows(training_cutoff_ms: int) -> Windows:
    cutoff, train_end = training_cutoff_ms, START_MS + 10 * DAY_MS
    return Windows(START_MS, train_end, cutoff, cutoff + DAY_MS, cutoff, cutoff + DAY_MS, 14 * DAY_MS)


def test_the_inputs_are_the_declared_features_the_rules_and_the_anomaly_score() -> None:
    assert champion_inputs(FEATURES) == (*FEATURES, *RULE_IDS, "rules_score", "ml_score")


def test_only_outcomes_known_at_the_training_cutoff_are_learnt_from() -> None:
    train = pd.DataFrame({"transaction_id": ["a", "b", "c"], "event_time_ms": [START_MS] * 3})
    cutoff = START_MS + 10 * DAY_MS
    outcomes = pd.DataFrame(
        {
            "transaction_id": ["a", "b", "c"],
            "is_fraud": [True, True, False],
            "labelled_at_ms": [cutoff, cutoff + 1, cutoff - 1],  # b's chargeback comes after the cut-off
            "pattern": ["p", "p", None],
        }
    )
    assert training_labels(train, outcomes, _windows(cutoff)).tolist() == [True, False, False]


def test_the_champion_learns_the_pattern_and_sets_its_threshold_on_the_held_out_days() -> None:
    frame, is_fraud = _training_window()
    params = ChampionParams(n_estimators=60, validation_days=3, alert_budget=0.01)
    champion = train_champion(frame, is_fraud, FEATURES, params)
    held_out = frame["event_time_ms"] >= frame["event_time_ms"].max() - 3 * DAY_MS
    assert champion.report["validation_rows"] == int(held_out.sum())
    assert champion.report["fit_rows"] == len(frame) - int(held_out.sum())
    validation_scores = champion.scores(frame[held_out])
    alert_share = float(np.mean(validation_scores >= champion.alert_threshold))
    assert alert_share == pytest.approx(0.01, abs=0.005)  # the budget, on days it did not fit
    alerted = validation_scores >= champion.alert_threshold
    assert is_fraud[held_out.to_numpy()][alerted].mean() > 0.5  # most alerts are fraud (base rate ~2%)


def test_a_blacklist_hit_is_a_hard_override() -> None:
    frame, is_fraud = _training_window()
    champion = train_champion(frame, is_fraud, FEATURES, ChampionParams(n_estimators=20))
    listed = frame.head(3).assign(**{"FR-005": True}, amount_zscore=-3.0, velocity_count=0.0)
    assert champion.scores(listed).tolist() == [1.0, 1.0, 1.0]


def test_the_saved_champion_is_json_and_scores_exactly_as_trained() -> None:
    frame, is_fraud = _training_window()
    champion = train_champion(frame, is_fraud, FEATURES, ChampionParams(n_estimators=30))
    saved = json.loads(json.dumps(champion.to_dict()))  # as the catalog writes and reads it
    restored = Champion.from_dict(saved)
    assert restored.inputs == champion.inputs
    assert restored.alert_threshold == champion.alert_threshold
    np.testing.assert_array_equal(restored.scores(frame), champion.scores(frame))


def test_training_twice_gives_the_same_model() -> None:
    frame, is_fraud = _training_window()
    params = ChampionParams(n_estimators=30)
    first, second = (train_champion(frame, is_fraud, FEATURES, params) for _ in range(2))
    assert first.booster.model_to_string() == second.booster.model_to_string()


def test_a_validation_window_covering_everything_is_refused() -> None:
    frame, is_fraud = _training_window(n_rows=200)
    with pytest.raises(ValueError, match="validation_days"):
        train_champion(frame, is_fraud, FEATURES, ChampionParams(validation_days=30))


def test_the_bundle_carries_the_champion_and_its_walk_equals_lightgbm(tmp_path: Path) -> None:
    frame, is_fraud = _training_window()
    champion = train_champion(frame, is_fraud, FEATURES, ChampionParams(n_estimators=40))
    forest, _ = synthetic_bundle(tmp_path / "forest", model_version="f", n_trees=5, n_rows=200, feature_names=FEATURES)
    with_champion(forest, champion).save(tmp_path / "bundle")
    bundle = ModelBundle.load(tmp_path / "bundle")
    manifest = bundle.manifest.champion
    assert manifest is not None
    assert manifest.inputs == champion.inputs
    assert manifest.alert_threshold == champion.alert_threshold
    assert manifest.model_version.startswith("lgbm-")
    assert bundle.manifest.format_version == 2
    inputs = frame[list(champion.inputs)].to_numpy(dtype=np.float64)
    library = champion.booster.predict(inputs)  # LightGBM's own predictor
    assert np.abs(bundle.champion_probabilities(inputs) - library).max() <= 1e-12
    assert (tmp_path / "bundle" / "champion.txt").read_text() == champion.booster.model_to_string()


def test_the_bundle_scores_and_explains_the_champion_as_lightgbm_does(tmp_path: Path) -> None:
    frame, is_fraud = _training_window()
    frame["FR-005"] = np.arange(len(frame)) % 50 == 0  # some blacklist hits: hard overrides
    champion = train_champion(frame, is_fraud, FEATURES, ChampionParams(n_estimators=40))
    forest, _ = synthetic_bundle(tmp_path / "forest", model_version="f", n_trees=5, n_rows=200, feature_names=FEATURES)
    bundle = with_champion(forest, champion)
    inputs = frame[list(champion.inputs)].to_numpy(dtype=np.float64)
    scores = bundle.champion_scores(inputs)
    assert np.abs(scores - champion.scores(frame)).max() <= 1e-12
    assert (scores[frame["FR-005"].to_numpy()] == 1.0).all()
    shap = champion.booster.predict(inputs[:20], pred_contrib=True)  # LightGBM's own TreeSHAP, through Python
    for row, values in zip(inputs[:20], shap, strict=True):
        top = bundle.champion_top_contributions(row)
        order = np.argsort(-values[:-1], kind="stable")[:3]
        assert top == [(champion.inputs[i], float(values[i])) for i in order]


def test_a_damaged_champion_file_is_refused(tmp_path: Path) -> None:
    frame, is_fraud = _training_window()
    champion = train_champion(frame, is_fraud, FEATURES, ChampionParams(n_estimators=10))
    forest, _ = synthetic_bundle(tmp_path / "forest", model_version="f", n_trees=5, n_rows=200, feature_names=FEATURES)
    with_champion(forest, champion).save(tmp_path / "bundle")
    damaged = tmp_path / "bundle" / "champion.npz"
    damaged.write_bytes(damaged.read_bytes()[:-10])
    with pytest.raises(ModelBundleCorruptError, match=r"champion\.npz does not match its checksum"):
        ModelBundle.load(tmp_path / "bundle")
    assert ModelBundle.load(tmp_path / "forest").manifest.champion is None  # a bundle without one still loads


def test_a_champion_reads_features_of_its_own_after_the_forests(tmp_path: Path) -> None:
    """``features.champion_only``: the forest reads its features alone, the champion those and its own after them."""
    frame, is_fraud = _training_window()
    frame["merchant_fraud_rate_7d"] = np.where(is_fraud, 0.5, 0.0) + np.random.default_rng(5).random(len(frame))
    names = (*FEATURES, "merchant_fraud_rate_7d")
    champion = train_champion(frame, is_fraud, names, ChampionParams(n_estimators=20))
    forest, _ = synthetic_bundle(tmp_path / "forest", model_version="f", n_trees=5, n_rows=200, feature_names=FEATURES)
    with_champion(forest, champion, merchant_lag_ms=120_000).save(tmp_path / "bundle")
    bundle = ModelBundle.load(tmp_path / "bundle")
    assert bundle.manifest.feature_names == FEATURES
    assert bundle.input_features == names
    assert bundle.manifest.merchant_lag_ms == 120_000  # the champion reads a merchant feature
    bundle.check_features(names, 120_000)
    for configured, lag in ((FEATURES, 120_000), (names, 300_000)):
        with pytest.raises(ModelFeatureError):
            bundle.check_features(configured, lag)
    inputs = frame[list(champion.inputs)].to_numpy(dtype=np.float64)
    assert np.abs(bundle.champion_probabilities(inputs) - champion.booster.predict(inputs)).max() <= 1e-12
    assert forest.manifest.merchant_lag_ms is None
    assert forest.input_features == FEATURES


def test_a_champion_that_does_not_read_the_forests_features_first_is_refused(tmp_path: Path) -> None:
    frame, is_fraud = _training_window()
    champion = train_champion(frame, is_fraud, FEATURES[::-1], ChampionParams(n_estimators=10))
    forest, _ = synthetic_bundle(tmp_path / "forest", model_version="f", n_trees=5, n_rows=200, feature_names=FEATURES)
    with pytest.raises(ModelFormatError, match="the champion reads"):
        with_champion(forest, champion)
