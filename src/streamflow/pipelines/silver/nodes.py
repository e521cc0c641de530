"""Nodes of the ``silver`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from streamflow.core import ContractConfig
from streamflow.medallion.silver import run_silver


def build_silver(
    bronze_transactions: pd.DataFrame,
    landing_report: dict[str, Any],
    event_contract: dict[str, Any],
    parse_workers: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Parse, deduplicate and validate bronze rows.

    Args:
        bronze_transactions: The bronze table.
        landing_report: Bronze's files read and files not read (carried into the report).
        event_contract: The ``event_contract`` parameters (limits shared with the stream).
        parse_workers: Processes that parse payloads (large batches only).

    Returns:
        Silver rows, quarantined rows, duplicate rows and the row-count report (with ``landing``).

    Raises:
        SilverInvariantError: If bronze rows are not all accounted for.

    """
    result = run_silver(bronze_transactions, ContractConfig.from_dict(event_contract), parse_workers=parse_workers)
    return result.silver, result.quarantine, result.duplicates, {**result.report, "landing": landing_report}
