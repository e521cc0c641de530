"""Nodes of the ``champion`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from streamflow.core import FeaturesConfig
from streamflow.core.forest import ModelBundle
from streamflow.modeling.champion import Champion, ChampionParams, train_champion, training_labels
from streamflow.modeling.packaging import with_champion
from streamflow.modeling.protocol import Windows
from streamflow.modeling.scoring import score_frame


def fit_champion(
    train_features: pd.DataFrame,
    silver_outcomes: pd.DataFrame,
    forest_bundle: ModelBundle,
    split_window: dict[str, Any],
    champion_params: dict[str, Any],
    features: dict[str, Any],
) -> dict[str, Any]:
    """The champion trained on the training window with the outcomes known at its cut-off, as saved."""
    windows = Windows.from_dict(split_window)
    train = score_frame(train_features, forest_bundle)  # the forest's anomaly score is one of its inputs
    labels = training_labels(train, silver_outcomes, windows)
    names = FeaturesConfig.from_dict(features).names  # the forest's, then its own (features.champion_only)
    champion = train_champion(train, labels, names, ChampionParams.from_dict(champion_params))
    return champion.to_dict()


def package_champion(
    forest_bundle: ModelBundle, champion_model: dict[str, Any], features: dict[str, Any] | None = None
) -> ModelBundle:
    """The bundle the stream loads: the forest and the champion (its walk, its LightGBM text, its manifest section)."""
    lag_ms = FeaturesConfig.from_dict(features).merchant_lag_ms
    return with_champion(forest_bundle, Champion.from_dict(champion_model), lag_ms)
