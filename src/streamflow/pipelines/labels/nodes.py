"""Nodes of the ``labels`` pipeline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from streamflow.core import ContractConfig
from streamflow.core.landing import is_ignored
from streamflow.medallion.outcomes import match_transactions, read_outcomes


def build_outcomes(
    raw_labels: dict[str, Callable[[], bytes]], silver_transactions: pd.DataFrame, event_contract: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Parse every landed outcome and keep those of landed transactions; quarantine the rest with codes.

    Args:
        raw_labels: Lazy loaders of each file of the label landing zone (none: no outcomes yet).
        silver_transactions: The landed transactions the outcomes must name.
        event_contract: The ``event_contract`` parameters (the clock skew allowed on ``labelled_at``).

    Returns:
        ``silver_outcomes``, ``outcome_quarantine`` and the labels report.

    Raises:
        OutcomesMatchNothingError: A label file none of whose outcomes names a landed transaction.

    """
    files = {name: load() for name, load in raw_labels.items() if not is_ignored(name)}
    tolerance_ms = ContractConfig.from_dict(event_contract).future_tolerance_ms
    parsed = read_outcomes(files, received_at_ms=time.time_ns() // 1_000_000, tolerance_ms=tolerance_ms)
    return match_transactions(parsed, silver_transactions)
