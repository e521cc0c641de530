"""Fit the Isolation Forest on the training window (unsupervised: labels never used)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.ensemble import IsolationForest

from streamflow.core import FEATURE_NAMES


def feature_matrix(features: pd.DataFrame) -> NDArray[np.float64]:
    """The model's input columns, in ``FEATURE_NAMES`` order."""
    return features.loc[:, list(FEATURE_NAMES)].to_numpy(dtype=np.float64)


def train_isolation_forest(train: pd.DataFrame, params: dict[str, Any]) -> IsolationForest:
    """Fit ``IsolationForest(**params)`` on the training window's feature vectors."""
    forest = IsolationForest(**params)
    return forest.fit(feature_matrix(train))
