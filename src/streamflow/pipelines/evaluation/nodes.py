"""Nodes of the ``evaluation`` pipeline."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from streamflow.core.forest import ModelBundle
from streamflow.modeling import evaluation
from streamflow.modeling.champion import Champion
from streamflow.modeling.protocol import FRAUD, LEGIT, PENDING, Windows, labels_at
from streamflow.modeling.scoring import score_frame


def evaluate_model(
    holdout_features: pd.DataFrame,
    silver_outcomes: pd.DataFrame,
    model_bundle: ModelBundle,
    champion_model: dict[str, Any],
    split_window: dict[str, Any],
    card_precision_k: int,
    alert_budget: float,
) -> tuple[dict[str, Any], Figure]:
    """The field's metrics of rules only, the forest, the blend and the champion on the test window (delay protocol).

    Labels are the outcomes known at the evaluation's cut-off (``labelled_at <= cut-off``);
    transactions without one count as legit once older than the maturity window, and the
    younger ones (pending) are left out and counted.
    """
    windows = Windows.from_dict(split_window)
    scored = score_frame(holdout_features, model_bundle)
    champion = Champion.from_dict(champion_model)
    scored = scored.assign(champion_score=champion.scores(scored))
    labels = labels_at(scored, silver_outcomes, cutoff_ms=windows.evaluation_cutoff_ms, maturity_ms=windows.maturity_ms)
    counts = labels["label"].value_counts()
    frame = evaluation.evaluation_frame(scored, labels)
    metrics = evaluation.evaluate_scorers(frame, k=card_precision_k, budget=alert_budget)
    report = {
        "model_version": model_bundle.manifest.model_version,
        "protocol": split_window,
        "test_rows": len(scored),
        "test_fraud_rows": int(counts.get(FRAUD, 0)),
        "test_legit_rows": int(counts.get(LEGIT, 0)),
        "test_pending_rows": int(counts.get(PENDING, 0)),
        "card_precision_k": card_precision_k,
        "alert_budget": alert_budget,
        "alpha": model_bundle.manifest.alpha,
        "champion": {**champion.report, "alert_threshold": champion.alert_threshold, "inputs": list(champion.inputs)},
        "scorers": _json_safe(metrics),
        "table": evaluation.metrics_table(metrics, k=card_precision_k),
    }
    return report, evaluation.pr_curve_figure(frame, metrics)


def _json_safe(value: Any) -> Any:
    """NaN (a metric without the data to measure it) as ``null``, so the report is strict JSON."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def tracked_metrics(model_metrics: dict[str, Any]) -> dict[str, dict[str, float | int]]:
    """The report's headline metrics per scorer, for the run's MLflow metrics."""
    return evaluation.headline_metrics(model_metrics["scorers"])
