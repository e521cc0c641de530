"""Nodes of the ``bronze`` pipeline."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from streamflow.medallion.bronze import ingest_files

LANDING_SUFFIX = ".jsonl"  # the catalog's filename_suffix of raw_transactions


def ingest_raw_files(raw_transactions: dict[str, Callable[[], bytes]]) -> pd.DataFrame:
    """Every line of every landed file, malformed ones included, with ingestion metadata.

    Args:
        raw_transactions: Lazy loaders of each landed file's bytes, by partition id.

    Returns:
        The bronze table (one row per physical line).

    """
    files = {f"{partition}{LANDING_SUFFIX}": load() for partition, load in raw_transactions.items()}
    return ingest_files(files, pd.Timestamp.now(tz="UTC"))
