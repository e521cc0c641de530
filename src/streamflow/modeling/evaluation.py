"""The field's evaluation of each scorer on the test window, with outcomes known at the cut-off.

As the Fraud Detection Handbook reports it: AUC ROC and average precision over transactions;
card precision@k per day (the ``k`` cards with the highest score that day, the share that had
fraud that day, cards already detected on earlier days removed), averaged over the test days;
and precision and recall at the alert budget (the highest-scored share of transactions, the
alerts a team can review), with recall per fraud pattern when the outcomes carry one.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from streamflow.modeling.protocol import DAY_MS, FRAUD, LEGIT

SCORERS: dict[str, str] = {  # scorer name: its score column
    "rules_only": "rules_score",
    "forest": "ml_score",
    "blend": "final_score",
    "champion": "champion_score",
}
COLUMNS: tuple[tuple[str, str, str], ...] = (  # metric, header, format
    ("auc_roc", "AUC ROC", ".3f"),
    ("average_precision", "AP", ".3f"),
    ("card_precision_at_k", "CP@k", ".3f"),
    ("precision_at_budget", "P@budget", ".3f"),
    ("recall_at_budget", "R@budget", ".3f"),
)


def evaluation_frame(scored: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The test window's scored transactions with a known label (pending ones left out), ``is_fraud`` and ``day``."""
    joined = scored.merge(labels, on="transaction_id", how="left", validate="one_to_one")
    known = joined[joined["label"].isin([FRAUD, LEGIT])].reset_index(drop=True)
    return known.assign(is_fraud=known["label"] == FRAUD, day=known["event_time_ms"] // DAY_MS)


def card_precision_at_k(frame: pd.DataFrame, score: str, k: int) -> tuple[float, list[float]]:
    """Card precision@k: the mean over days of the share of the day's top ``k`` cards that had fraud that day.

    Each day, every card not yet detected gets its highest score and whether any of its payments
    that day was fraud; the ``k`` best-scored cards are the day's alerts; the fraudulent ones among
    them are detected and leave the following days' rankings (Handbook, ``card_precision_top_k``).
    The share is over ``k`` even when fewer cards paid that day.

    Returns:
        The mean, and each day's value in day order.

    """
    detected: set[str] = set()
    per_day: list[float] = []
    for _, day in frame.groupby("day", sort=True):
        candidates = day[~day["card_id"].isin(detected)]
        cards = candidates.groupby("card_id").agg(score=(score, "max"), fraud=("is_fraud", "max"))
        top = cards.sort_values(["score"], ascending=False, kind="stable").head(k)
        per_day.append(float(top["fraud"].sum()) / k)
        detected.update(top.index[top["fraud"].to_numpy(dtype=bool)])
    return (float(np.mean(per_day)) if per_day else math.nan), per_day


def at_budget(frame: pd.DataFrame, score: str, budget: float) -> np.ndarray[Any, Any]:
    """The alerts of a budget: the ``ceil(budget * n)`` highest-scored transactions (ties by time, then id)."""
    n_alerts = math.ceil(budget * len(frame))
    keys = (frame["transaction_id"].to_numpy(), frame["event_time_ms"].to_numpy(), -frame[score].to_numpy())
    order = np.lexsort(keys)
    alert = np.zeros(len(frame), dtype=bool)
    alert[order[:n_alerts]] = True
    return alert


def scorer_metrics(frame: pd.DataFrame, score: str, *, k: int, budget: float) -> dict[str, Any]:
    """The field's metrics of one score column on the labelled test transactions."""
    truth = frame["is_fraud"].to_numpy(dtype=bool)
    values = frame[score].to_numpy(dtype=np.float64)
    both = truth.any() and not truth.all()
    alert = at_budget(frame, score, budget)
    caught = alert & truth
    cp_mean, cp_days = card_precision_at_k(frame, score, k)
    patterns = frame["pattern"].where(truth)
    by_pattern = {
        str(pattern): float(caught[(patterns == pattern).to_numpy()].sum() / (patterns == pattern).sum())
        for pattern in sorted(patterns.dropna().unique())
    }
    return {
        "auc_roc": float(roc_auc_score(truth, values)) if both else math.nan,
        "average_precision": float(average_precision_score(truth, values)) if truth.any() else math.nan,
        "card_precision_at_k": cp_mean,
        "card_precision_per_day": cp_days,
        "precision_at_budget": float(caught.sum() / alert.sum()) if alert.any() else math.nan,
        "recall_at_budget": float(caught.sum() / truth.sum()) if truth.any() else math.nan,
        "alerts_at_budget": int(alert.sum()),
        "recall_by_pattern": by_pattern,
    }


def evaluate_scorers(frame: pd.DataFrame, *, k: int, budget: float) -> dict[str, dict[str, Any]]:
    """:func:`scorer_metrics` of every scorer whose score column the frame holds."""
    present = {name: column for name, column in SCORERS.items() if column in frame}
    return {name: scorer_metrics(frame, column, k=k, budget=budget) for name, column in present.items()}


def metrics_table(metrics: dict[str, dict[str, Any]], *, k: int) -> str:
    """A fixed-width table: one row per scorer, the field's metrics, then recall at budget per pattern."""
    patterns = sorted({pattern for values in metrics.values() for pattern in values["recall_by_pattern"]})
    headers = [header.replace("@k", f"@{k}") for _, header, _ in COLUMNS]
    lines = [f"{'scorer':<12}" + "".join(f"{h:>10}" for h in headers) + "".join(f"{p[:14]:>16}" for p in patterns)]
    for name, values in metrics.items():
        cells = "".join(f"{values[metric]:>10{fmt}}" for metric, _, fmt in COLUMNS)
        recalls = "".join(f"{values['recall_by_pattern'].get(p, math.nan):>16.2f}" for p in patterns)
        lines.append(f"{name:<12}{cells}{recalls}")
    if patterns:
        lines.append(f"{'':<12}(pattern columns: recall at the alert budget, by the outcomes' pattern)")
    return "\n".join(lines)


def headline_metrics(scorers: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | int]]:
    """Each scorer's table metrics as ``<scorer>.<metric>`` (what a tracking run records); unmeasured ones left out."""
    return {
        f"{name}.{metric}": {"value": float(values[metric]), "step": 0}
        for name, values in scorers.items()
        for metric, _, _ in COLUMNS
        if values.get(metric) is not None and not math.isnan(values[metric])
    }


def pr_curve_figure(frame: pd.DataFrame, metrics: dict[str, dict[str, Any]]) -> Figure:
    """Precision-recall curves of the scorers on the test window."""
    figure, axes = plt.subplots(figsize=(6, 4.5))
    truth = frame["is_fraud"].to_numpy(dtype=bool)
    for name, column in SCORERS.items():
        if name not in metrics or not truth.any():
            continue
        precision, recall, _ = precision_recall_curve(truth, frame[column].to_numpy())
        axes.plot(recall, precision, label=f"{name} (AP {metrics[name]['average_precision']:.3f})")
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title("Test window precision-recall (delay protocol)")
    axes.legend(loc="upper right")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    plt.close(figure)
    return figure
