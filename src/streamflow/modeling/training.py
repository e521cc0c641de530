"""Fit the Isolation Forest on the training window (unsupervised: labels never used)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.ensemble import IsolationForest


def feature_columns(features: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """The model's input columns ``names``, in that order, as float64."""
    return features.loc[:, list(names)].astype(np.float64)


def feature_matrix(features: pd.DataFrame, names: Sequence[str]) -> NDArray[np.float64]:
    """``feature_columns`` as an array."""
    return feature_columns(features, names).to_numpy()


def model_inputs(forest: IsolationForest, features: pd.DataFrame) -> pd.DataFrame:
    """The columns a fitted forest reads, by the names it was trained on (``feature_names_in_``)."""
    return feature_columns(features, forest.feature_names_in_)


def train_isolation_forest(train: pd.DataFrame, params: dict[str, Any], names: Sequence[str]) -> IsolationForest:
    """Fit ``IsolationForest(**params)`` on the training window's features ``names`` (the forest keeps the names)."""
    forest = IsolationForest(**params)
    return forest.fit(feature_columns(train, names))
