"""Model research sweeps: Isolation Forest contamination and the rules/model blend weight alpha.

Used by ``notebooks/02_model_research.ipynb``; labels (outcomes known at the evaluation's cut-off,
``modeling.protocol.labels_at``) are used here for evaluation only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, precision_recall_fscore_support

from streamflow.core.forest import ModelBundle
from streamflow.modeling.scoring import threshold_for_alert_rate
from streamflow.modeling.training import feature_matrix, model_inputs

SWEEP_METRICS: tuple[str, ...] = ("precision", "recall", "f1", "pr_auc", "alert_rate")


def contamination_offsets(forest: IsolationForest, train: pd.DataFrame, contaminations: Sequence[float]) -> list[float]:
    """The ``offset_`` scikit-learn would set for each contamination, without refitting.

    scikit-learn fits the trees independently of ``contamination`` and then sets
    ``offset_ = np.percentile(score_samples(X_train), 100 * contamination)``; a sample is an
    outlier (``predict == -1``) when ``score_samples(x) < offset_``.

    Args:
        forest: A fitted forest (any contamination).
        train: The training window's features (the rows it was fitted on).
        contaminations: Shares of outliers in (0, 0.5].

    Returns:
        One offset per contamination, in order.

    Raises:
        ValueError: On a contamination outside (0, 0.5].

    """
    bad = [value for value in contaminations if not 0.0 < value <= 0.5]
    if bad:
        raise ValueError(f"contamination must be within (0, 0.5], got {bad}")
    train_scores = forest.score_samples(model_inputs(forest, train))
    return [float(np.percentile(train_scores, 100.0 * value)) for value in contaminations]


def contamination_sweep(
    forest: IsolationForest,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    labels: pd.DataFrame,
    contaminations: Sequence[float],
) -> pd.DataFrame:
    """Holdout metrics of the forest alone, alerting as ``predict`` would at each contamination.

    Args:
        forest: The fitted research forest.
        train: Training window features (sets the offsets).
        holdout: Holdout window features.
        labels: ``transaction_id``, ``is_fraud``, ``pattern`` (transactions without a known label left out).
        contaminations: The values to try.

    Returns:
        One row per contamination: ``contamination``, ``offset`` and ``SWEEP_METRICS``.

    """
    joined = _with_labels(holdout, labels)
    scores = forest.score_samples(model_inputs(forest, joined))
    rows = []
    for contamination, offset in zip(contaminations, contamination_offsets(forest, train, contaminations), strict=True):
        metrics = threshold_metrics(joined, -scores, scores < offset)
        rows.append({"contamination": contamination, "offset": offset, **_headline(metrics)})
    return pd.DataFrame(rows)


def alpha_sweep(
    bundle: ModelBundle,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    labels: pd.DataFrame,
    alphas: Sequence[float],
    *,
    target_alert_rate: float,
) -> pd.DataFrame:
    """Holdout metrics of ``alpha * ml_score + (1 - alpha) * rules_score`` for each alpha.

    Each alpha gets its own threshold, set like the bundle's: the blended score that
    ``target_alert_rate`` of the training window reaches (no labels).

    Args:
        bundle: The packaged model (its ``ml_scores``; its own alpha is ignored).
        train: Training window features (sets the thresholds).
        holdout: Holdout window features.
        labels: ``transaction_id``, ``is_fraud``, ``pattern`` (transactions without a known label left out).
        alphas: Blend weights in [0, 1].
        target_alert_rate: Share of the training window that alerts.

    Returns:
        One row per alpha: ``alpha``, ``threshold``, ``SWEEP_METRICS`` and ``subtle_recall``.

    Raises:
        ValueError: On an alpha outside [0, 1].

    """
    bad = [value for value in alphas if not 0.0 <= value <= 1.0]
    if bad:
        raise ValueError(f"alpha must be within [0, 1], got {bad}")
    joined = _with_labels(holdout, labels)
    names = bundle.manifest.feature_names
    train_ml, holdout_ml = (bundle.ml_scores(feature_matrix(frame, names)) for frame in (train, joined))
    train_rules, holdout_rules = (frame["rules_score"].to_numpy(dtype=np.float64) for frame in (train, joined))
    rows = []
    for alpha in alphas:
        threshold = threshold_for_alert_rate(alpha * train_ml + (1.0 - alpha) * train_rules, target_alert_rate)
        final = alpha * holdout_ml + (1.0 - alpha) * holdout_rules
        metrics = threshold_metrics(joined, final, final >= threshold)
        rows.append(
            {
                "alpha": alpha,
                "threshold": threshold,
                **_headline(metrics),
                "subtle_recall": metrics["recall_by_pattern"].get("subtle", 0.0),
            }
        )
    return pd.DataFrame(rows)


def threshold_metrics(labelled: pd.DataFrame, score: Any, alert: Any) -> dict[str, Any]:
    """Precision, recall, F1, alert rate of a threshold's alerts; the score's average precision; recall per pattern."""
    truth = labelled["is_fraud"].to_numpy(dtype=bool)
    alert = np.asarray(alert, dtype=bool)
    precision, recall, f1, _ = precision_recall_fscore_support(truth, alert, average="binary", zero_division=0)
    patterns = labelled["pattern"]
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "pr_auc": float(average_precision_score(truth, score)) if truth.any() else 0.0,
        "alert_rate": float(alert.mean()),
        "recall_by_pattern": {
            str(pattern): float(alert[(patterns == pattern).to_numpy() & truth].mean())
            for pattern in sorted(patterns[truth].dropna().unique())
        },
    }


def _with_labels(features: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    joined = features.merge(labels[["transaction_id", "is_fraud", "pattern"]], on="transaction_id", how="inner")
    return joined.assign(is_fraud=joined["is_fraud"].astype(bool))


def _headline(metrics: dict[str, Any]) -> dict[str, float]:
    return {name: float(metrics[name]) for name in SWEEP_METRICS}
