"""Nodes of the ``features`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from streamflow.core import FeaturesConfig, RulesConfig
from streamflow.modeling.features import replay_features
from streamflow.modeling.protocol import DelayProtocol, in_window, protocol_windows


def build_transaction_features(
    silver_transactions: pd.DataFrame,
    silver_outcomes: pd.DataFrame,
    fraud_rules: dict[str, Any],
    features: dict[str, Any],
) -> pd.DataFrame:
    """Replay silver events in event-time order through the core, with the outcomes as they became known."""
    config = FeaturesConfig.from_dict(features)
    rules = RulesConfig.from_dict(fraud_rules)
    return replay_features(silver_transactions, rules, config.feature_set, config.merchant_lag_ms, silver_outcomes)


def split_features(
    transaction_features: pd.DataFrame, silver_outcomes: pd.DataFrame, protocol: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The delay protocol's training and test windows (``evaluation.protocol``), placed on the data.

    Args:
        transaction_features: Every event's features.
        silver_outcomes: The outcomes (their newest ``labelled_at`` is the evaluation's default cut-off).
        protocol: The ``evaluation.protocol`` parameters.

    Returns:
        The training window's rows, the test window's rows, and the windows and cut-offs.

    Raises:
        ProtocolError: The history is too short for the windows.

    """
    newest = int(silver_outcomes["labelled_at_ms"].max()) if len(silver_outcomes) else None
    times = transaction_features["event_time_ms"].to_numpy()
    windows = protocol_windows(times, newest, DelayProtocol.from_dict(protocol))
    train = in_window(transaction_features, windows.train_start_ms, windows.train_end_ms)
    test = in_window(transaction_features, windows.test_start_ms, windows.test_end_ms)
    return train, test, windows.to_dict()
