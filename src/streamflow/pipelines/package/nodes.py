"""Nodes of the ``package`` pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from streamflow.core import FeaturesConfig
from streamflow.core.forest import ModelBundle
from streamflow.modeling.packaging import build_bundle
from streamflow.modeling.scoring import score_frame, threshold_for_alert_rate
from streamflow.modeling.training import feature_matrix


def package_model(
    isolation_forest: IsolationForest,
    train_features: pd.DataFrame,
    split_window: dict[str, str],
    alpha: float,
    target_alert_rate: float,
    features: dict[str, Any] | None = None,
) -> ModelBundle:
    """The portable bundle, calibrated on the training window (no labels).

    The score normalisation maps the training window's median anomaly score to 0 and its
    maximum to 1; the alert threshold is the blended score that ``target_alert_rate`` of
    the training window reaches. The manifest records the merchant features' lag (``features``).
    """
    window = {"start": split_window["train_start"], "end": split_window["train_end"]}
    lag_ms = FeaturesConfig.from_dict(features).merchant_lag_ms
    draft = build_bundle(
        isolation_forest,
        model_version="draft",
        training_window=window,
        training_rows=len(train_features),
        score_normalisation={"low": 0.0, "high": 1.0},
        alert_threshold=1.0,
        alpha=alpha,
        merchant_lag_ms=lag_ms,
    )
    anomaly = -draft.score_samples(feature_matrix(train_features, draft.manifest.feature_names))
    normalisation = {"low": float(np.median(anomaly)), "high": float(anomaly.max())}
    calibrated = build_bundle(
        isolation_forest,
        model_version="draft",
        training_window=window,
        training_rows=len(train_features),
        score_normalisation=normalisation,
        alert_threshold=1.0,
        alpha=alpha,
        merchant_lag_ms=lag_ms,
    )
    threshold = threshold_for_alert_rate(
        score_frame(train_features, calibrated)["final_score"].to_numpy(), target_alert_rate
    )
    return build_bundle(
        isolation_forest,
        model_version=f"iforest-{calibrated.manifest.arrays_sha256[:12]}",
        training_window=window,
        training_rows=len(train_features),
        score_normalisation=normalisation,
        alert_threshold=threshold,
        alpha=alpha,
        merchant_lag_ms=lag_ms,
    )
