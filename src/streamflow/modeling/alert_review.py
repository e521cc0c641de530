"""The stream's alerts against the outcomes (``notebooks/03_stream_alerts.ipynb``).

The alerts come from the catalog's ``stream_alerts`` (a partitioned dataset over the Flink
job's JSON-lines files); the labels are the outcomes known at the evaluation's cut-off
(``modeling.protocol.labels_at``: ``transaction_id``, ``is_fraud``, ``pattern``, pending ones left out).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

ALERT_COLUMNS: tuple[str, ...] = (
    "alert_id",
    "transaction_id",
    "customer_id",
    "event_time",
    "amount",
    "currency",
    "rules_score",
    "ml_score",
    "final_score",
    "threshold",
    "fired_rules",
    "reasons",
    "top_features",
    "model_version",
)
NO_RULE = "(model only)"


def load_alerts(partitions: Mapping[str, Callable[[], pd.DataFrame]]) -> pd.DataFrame:
    """Every alert file concatenated, one row per ``alert_id`` (a replayed alert counts once).

    Args:
        partitions: What ``catalog.load("stream_alerts")`` returns: a loader per file.

    Returns:
        The alerts with at least ``ALERT_COLUMNS``; empty (with those columns) before the
        stream has run.

    """
    frames = [load() for _, load in sorted(partitions.items())]
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return pd.DataFrame(columns=list(ALERT_COLUMNS))
    alerts = pd.concat(frames, ignore_index=True)
    missing = sorted(set(ALERT_COLUMNS) - set(alerts.columns))
    if missing:
        raise ValueError(f"stream alerts lack the columns {missing}; expected {list(ALERT_COLUMNS)}")
    return alerts.drop_duplicates("alert_id", ignore_index=True)


def label_alerts(alerts: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The alerts whose transaction has a known label, with its ``is_fraud`` and ``pattern``.

    An alert on a transaction whose outcome is still pending (too recent) is left out.
    """
    joined = alerts.merge(labels[["transaction_id", "is_fraud", "pattern"]], on="transaction_id", how="inner")
    return joined.assign(is_fraud=joined["is_fraud"].astype(bool))


def precision_by_rule(labelled_alerts: pd.DataFrame) -> pd.DataFrame:
    """Per fired rule (``NO_RULE`` when only the model fired): alerts, true frauds, precision."""
    fired = pd.Series(
        [list(rules) if len(rules) else [NO_RULE] for rules in labelled_alerts["fired_rules"]],
        index=labelled_alerts.index,
        dtype=object,
    )
    rules = labelled_alerts.assign(rule=fired).explode("rule")
    return _rates(rules, "rule", count="alerts", hits="frauds", rate="precision")


def recall_by_pattern(labelled_alerts: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Per fraud pattern: frauds in ``labels``, frauds alerted, recall.

    ``labels`` should cover exactly the events the stream scored (e.g. the whole landing zone).
    """
    fraud = labels[labels["is_fraud"]]
    alerted = set(labelled_alerts["transaction_id"])
    frame = fraud.assign(alerted=fraud["transaction_id"].isin(alerted))
    return _rates(frame, "pattern", count="frauds", hits="alerted", rate="recall", flag="alerted")


def top_feature_counts(labelled_alerts: pd.DataFrame) -> pd.DataFrame:
    """How often each feature is an alert's strongest model contribution, true and false alerts apart."""
    top = labelled_alerts["top_features"].map(_first_feature)
    frame = labelled_alerts.assign(
        top_feature=top, outcome=labelled_alerts["is_fraud"].map({True: "fraud", False: "legit"})
    )
    table = frame.groupby(["top_feature", "outcome"]).size().unstack("outcome", fill_value=0)
    return table.reindex(columns=["fraud", "legit"], fill_value=0).sort_values("fraud", ascending=False)


def _first_feature(features: Any) -> str:
    if isinstance(features, list) and features and isinstance(features[0], dict):
        return str(features[0].get("feature", "(none)"))
    return "(none)"


def _rates(frame: pd.DataFrame, by: str, *, count: str, hits: str, rate: str, flag: str = "is_fraud") -> pd.DataFrame:
    grouped = frame.groupby(by)[flag].agg(["size", "sum"])
    table = pd.DataFrame({count: grouped["size"].astype(int), hits: grouped["sum"].astype(int)})
    table[rate] = table[hits] / table[count]
    return table.sort_values(count, ascending=False)
