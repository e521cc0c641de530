"""Nodes of the ``features`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from streamflow.core import RulesConfig
from streamflow.modeling.features import replay_features, split_by_time


def build_transaction_features(silver_transactions: pd.DataFrame, fraud_rules: dict[str, Any]) -> pd.DataFrame:
    """Replay silver events per customer in event-time order through the core."""
    return replay_features(silver_transactions, RulesConfig.from_dict(fraud_rules))


def split_features(
    transaction_features: pd.DataFrame, holdout_days: float
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """A training window and the later holdout window (the last ``holdout_days``)."""
    return split_by_time(transaction_features, holdout_days)
