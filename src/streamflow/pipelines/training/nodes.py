"""Nodes of the ``training`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.ensemble import IsolationForest

from streamflow.core import FeaturesConfig
from streamflow.modeling.training import train_isolation_forest


def fit_isolation_forest(
    train_features: pd.DataFrame, isolation_forest_params: dict[str, Any], features: dict[str, Any]
) -> IsolationForest:
    """Fit the forest on the training window's configured features (labels are never used)."""
    return train_isolation_forest(train_features, isolation_forest_params, FeaturesConfig.from_dict(features).model)
