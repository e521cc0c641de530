"""Scores of the rules, the model and their blend, and the alert threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from streamflow.core.forest import ModelBundle
from streamflow.modeling.training import feature_matrix


def score_frame(features: pd.DataFrame, bundle: ModelBundle) -> pd.DataFrame:
    """``features`` plus ``ml_score`` and ``final_score`` from the bundle (the stream's scorer)."""
    ml = bundle.ml_scores(feature_matrix(features, bundle.manifest.feature_names))
    alpha = bundle.manifest.alpha
    final = alpha * ml + (1.0 - alpha) * features["rules_score"].to_numpy()
    return features.assign(ml_score=ml, final_score=final)


def threshold_for_alert_rate(scores: NDArray[np.float64], alert_rate: float) -> float:
    """The score at or above which ``alert_rate`` of ``scores`` fall (at least one alert)."""
    if not 0.0 < alert_rate < 1.0:
        raise ValueError(f"alert rate must be within (0, 1), got {alert_rate}")
    return float(np.quantile(scores, 1.0 - alert_rate, method="higher"))
