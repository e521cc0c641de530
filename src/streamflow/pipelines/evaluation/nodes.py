"""Nodes of the ``evaluation`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from streamflow.core.forest import ModelBundle
from streamflow.modeling import evaluation
from streamflow.modeling.scoring import score_frame, threshold_for_alert_rate
from streamflow.modeling.training import feature_matrix


def evaluate_model(
    holdout_features: pd.DataFrame,
    train_features: pd.DataFrame,
    transaction_labels: pd.DataFrame,
    model_bundle: ModelBundle,
    target_alert_rate: float,
) -> tuple[dict[str, Any], Figure]:
    """Holdout metrics of rules only, model only and the blend, and their PR curves.

    The model-only threshold is set like the blend's: the score that ``target_alert_rate``
    of the training window reaches. Labels are used here only.
    """
    scored = evaluation.labelled(score_frame(holdout_features, model_bundle), transaction_labels)
    model_threshold = threshold_for_alert_rate(
        model_bundle.ml_scores(feature_matrix(train_features)), target_alert_rate
    )
    decisions = evaluation.decisions(
        scored, model_threshold=model_threshold, blend_threshold=model_bundle.manifest.alert_threshold
    )
    metrics = {
        name: evaluation.scorer_metrics(scored["is_fraud"], scored["pattern"], d) for name, d in decisions.items()
    }
    report = {
        "model_version": model_bundle.manifest.model_version,
        "holdout_rows": len(scored),
        "holdout_fraud_rows": int(scored["is_fraud"].sum()),
        "alpha": model_bundle.manifest.alpha,
        "target_alert_rate": target_alert_rate,
        "thresholds": {"model_only": model_threshold, "blend": model_bundle.manifest.alert_threshold},
        "scorers": metrics,
        "table": evaluation.metrics_table(metrics),
        **evaluation.model_earns_its_place(metrics),
    }
    figure = evaluation.pr_curve_figure(scored["is_fraud"], {name: d["score"] for name, d in decisions.items()})
    return report, figure
