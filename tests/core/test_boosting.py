"""The portable boosted-tree walk equals LightGBM's own predictor, missing values and zeros included."""

import lightgbm as lgb
import numpy as np
import pytest

from streamflow.core.boosting import boosted_arrays, boosted_probabilities, boosted_walk
from streamflow.core.forest import ModelError


def _data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3000, 5))
    x[rng.random(x.shape) < 0.05] = np.nan  # missing values, in training and in scoring
    x[:, 3] = np.where(rng.random(3000) < 0.3, 0.0, x[:, 3])  # exact zeros
    y = (np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) * np.nan_to_num(x[:, 2]) > 1.0) | (
        rng.random(3000) < 0.02
    )
    return x, y


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_the_walk_equals_lightgbm_predict(zero_as_missing: bool) -> None:
    x, y = _data(5)
    model = lgb.LGBMClassifier(
        n_estimators=80, num_leaves=15, zero_as_missing=zero_as_missing, random_state=1, verbose=-1
    ).fit(x, y)
    booster = lgb.Booster(model_str=model.booster_.model_to_string())
    arrays, sigmoid = boosted_arrays(booster.dump_model())
    rows, _ = _data(6)
    rows[:5] = [np.nan, 0.0, -0.0, 1e-40, np.inf]  # each missing rule and an infinite value
    expected = booster.predict(rows)
    got = boosted_probabilities(rows, boosted_walk(arrays), sigmoid)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert np.abs(got - expected).max() <= 1e-12


@pytest.mark.parametrize("n_trees", [1, 2, 3, 5, 7])
def test_models_that_leave_a_group_of_four_trees_short_equal_lightgbm_predict(n_trees: int) -> None:
    # a row walks four trees side by side (boosted_raw_scores): the last group is short here
    x, y = _data(7)
    model = lgb.LGBMClassifier(n_estimators=n_trees, num_leaves=7, random_state=1, verbose=-1).fit(x, y)
    arrays, sigmoid = boosted_arrays(model.booster_.dump_model())
    assert arrays["tree_offsets"].shape[0] - 1 == n_trees
    rows, _ = _data(8)
    assert (
        np.abs(boosted_probabilities(rows, boosted_walk(arrays), sigmoid) - model.booster_.predict(rows)).max() <= 1e-12
    )


def test_a_single_leaf_model_scores_its_leaf() -> None:
    x = np.zeros((50, 2))
    model = lgb.LGBMClassifier(n_estimators=2, verbose=-1).fit(x, np.arange(50) % 10 == 0)
    arrays, sigmoid = boosted_arrays(model.booster_.dump_model())
    np.testing.assert_allclose(
        boosted_probabilities(x[:3], boosted_walk(arrays), sigmoid), model.booster_.predict(x[:3]), atol=1e-12
    )


def test_other_objectives_are_refused() -> None:
    x, y = _data(7)
    regressor = lgb.LGBMRegressor(n_estimators=3, verbose=-1).fit(x, y.astype(float))
    with pytest.raises(ModelError, match="only binary"):
        boosted_arrays(regressor.booster_.dump_model())
