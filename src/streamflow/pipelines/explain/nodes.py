"""Nodes of the ``explain`` pipeline."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from sklearn.ensemble import IsolationForest

from streamflow.core.forest import ModelBundle
from streamflow.modeling import explain
from streamflow.modeling.scoring import score_frame
from streamflow.modeling.training import model_inputs


def explain_model(
    isolation_forest: IsolationForest, holdout_features: pd.DataFrame, model_bundle: ModelBundle, sample_rows: int
) -> tuple[Figure, pd.DataFrame, pd.DataFrame]:
    """SHAP summary plot and mean |SHAP| on a holdout sample, and top contributions per holdout alert.

    Returns:
        The summary figure, the feature importance table, and one row per alert with its top
        three TreeSHAP contributions beside the bundle's own (what the stream reports).

    """
    sample = holdout_features.sample(n=min(sample_rows, len(holdout_features)), random_state=0)
    sample_values = explain.shap_values(isolation_forest, sample)
    scored = score_frame(holdout_features, model_bundle)
    alerts = scored[scored["final_score"] >= model_bundle.manifest.alert_threshold]
    alert_values = explain.shap_values(isolation_forest, alerts)
    return (
        explain.summary_figure(sample_values, model_inputs(isolation_forest, sample)),
        explain.mean_abs_shap(sample_values, tuple(isolation_forest.feature_names_in_)),
        explain.alert_explanations(alerts, alert_values, model_bundle),
    )
