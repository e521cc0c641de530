"""Holdout metrics of rules only, model only and the blend, against the generator's labels."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import average_precision_score, precision_recall_curve, precision_recall_fscore_support

SCORERS: tuple[str, ...] = ("rules_only", "model_only", "blend")


def decisions(scored: pd.DataFrame, *, model_threshold: float, blend_threshold: float) -> dict[str, pd.DataFrame]:
    """Score and alert flag per scorer: any fired rule; model score; blended score."""
    return {
        "rules_only": pd.DataFrame({"score": scored["rules_score"], "alert": scored["rules_score"] > 0}),
        "model_only": pd.DataFrame({"score": scored["ml_score"], "alert": scored["ml_score"] >= model_threshold}),
        "blend": pd.DataFrame({"score": scored["final_score"], "alert": scored["final_score"] >= blend_threshold}),
    }


def scorer_metrics(labels: pd.Series[Any], patterns: pd.Series[Any], decision: pd.DataFrame) -> dict[str, Any]:
    """Precision, recall, F1, PR-AUC, alert rate and recall per fraud pattern."""
    truth = labels.to_numpy(dtype=bool)
    alert = decision["alert"].to_numpy(dtype=bool)
    precision, recall, f1, _ = precision_recall_fscore_support(truth, alert, average="binary", zero_division=0)
    per_pattern = {
        str(pattern): float(alert[(patterns == pattern).to_numpy()].mean())
        for pattern in sorted(patterns[truth].unique())
    }
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "pr_auc": float(average_precision_score(truth, decision["score"])) if truth.any() else 0.0,
        "alert_rate": float(alert.mean()),
        "recall_by_pattern": per_pattern,
    }


def metrics_table(metrics: dict[str, dict[str, Any]]) -> str:
    """A fixed-width table of the headline metrics and the per-pattern recalls."""
    patterns = sorted({p for m in metrics.values() for p in m["recall_by_pattern"]})
    header = f"{'scorer':<12}{'precision':>10}{'recall':>8}{'f1':>7}{'pr_auc':>8}{'alerts':>8}" + "".join(
        f"{p[:10]:>11}" for p in patterns
    )
    lines = [header]
    for name, m in metrics.items():
        lines.append(
            f"{name:<12}{m['precision']:>10.3f}{m['recall']:>8.3f}{m['f1']:>7.3f}{m['pr_auc']:>8.3f}{m['alert_rate']:>8.2%}"
            + "".join(f"{m['recall_by_pattern'].get(p, 0.0):>11.2f}" for p in patterns)
        )
    return "\n".join(lines)


def pr_curve_figure(labels: pd.Series[Any], scores: dict[str, pd.Series[Any]]) -> Figure:
    """Precision-recall curves of the scorers on one plot."""
    figure, axes = plt.subplots(figsize=(6, 4.5))
    for name, score in scores.items():
        precision, recall, _ = precision_recall_curve(labels.to_numpy(dtype=bool), score.to_numpy())
        axes.plot(recall, precision, label=f"{name} (AP {average_precision_score(labels, score):.3f})")
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title("Holdout precision-recall")
    axes.legend(loc="upper right")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    plt.close(figure)
    return figure


def labelled(scored: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Scored rows joined with their labels (every valid event has one)."""
    joined = scored.merge(labels, on="transaction_id", how="left", validate="one_to_one")
    missing = int(joined["is_fraud"].isna().sum())
    if missing:
        raise ValueError(f"{missing} holdout events have no label; labels come from the generator run")
    return joined.assign(is_fraud=joined["is_fraud"].astype(bool))


def model_earns_its_place(metrics: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Recall on ``subtle`` fraud (which no rule catches): rules only vs the blend."""
    return {
        "subtle_recall_rules_only": metrics["rules_only"]["recall_by_pattern"].get("subtle", 0.0),
        "subtle_recall_blend": metrics["blend"]["recall_by_pattern"].get("subtle", 0.0),
    }
