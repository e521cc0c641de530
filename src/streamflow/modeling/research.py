"""Model research sweeps: Isolation Forest contamination and the rules/model blend weight alpha.

Used by ``notebooks/02_model_research.ipynb``; labels are used here for evaluation only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from streamflow.core.forest import ModelBundle
from streamflow.modeling.evaluation import labelled, scorer_metrics
from streamflow.modeling.scoring import threshold_for_alert_rate
from streamflow.modeling.training import feature_matrix

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
    train_scores = forest.score_samples(feature_matrix(train))
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
        labels: ``transaction_id``, ``is_fraud``, ``pattern`` from the generator.
        contaminations: The values to try.

    Returns:
        One row per contamination: ``contamination``, ``offset`` and ``SWEEP_METRICS``.

    """
    joined = labelled(holdout, labels)
    scores = forest.score_samples(feature_matrix(joined))
    rows = []
    for contamination, offset in zip(contaminations, contamination_offsets(forest, train, contaminations), strict=True):
        decision = pd.DataFrame({"score": -scores, "alert": scores < offset})
        metrics = scorer_metrics(joined["is_fraud"], joined["pattern"], decision)
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
        labels: ``transaction_id``, ``is_fraud``, ``pattern`` from the generator.
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
    joined = labelled(holdout, labels)
    train_ml, holdout_ml = (bundle.ml_scores(feature_matrix(frame)) for frame in (train, joined))
    train_rules, holdout_rules = (frame["rules_score"].to_numpy(dtype=np.float64) for frame in (train, joined))
    rows = []
    for alpha in alphas:
        threshold = threshold_for_alert_rate(alpha * train_ml + (1.0 - alpha) * train_rules, target_alert_rate)
        final = alpha * holdout_ml + (1.0 - alpha) * holdout_rules
        decision = pd.DataFrame({"score": final, "alert": final >= threshold})
        metrics = scorer_metrics(joined["is_fraud"], joined["pattern"], decision)
        rows.append(
            {
                "alpha": alpha,
                "threshold": threshold,
                **_headline(metrics),
                "subtle_recall": metrics["recall_by_pattern"].get("subtle", 0.0),
            }
        )
    return pd.DataFrame(rows)


def _headline(metrics: dict[str, Any]) -> dict[str, float]:
    return {name: float(metrics[name]) for name in SWEEP_METRICS}
