"""Nodes of the ``bronze`` pipeline."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from streamflow.core.landing import is_ignored, read_landing_zone
from streamflow.medallion.bronze import ingest_lines

logger = logging.getLogger(__name__)


def ingest_raw_files(raw_transactions: dict[str, Callable[[], bytes]]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Every line of every landed file, malformed ones included, with ingestion metadata.

    Args:
        raw_transactions: Lazy loaders of each file of the landing zone, by path relative to it.

    Returns:
        The bronze table (one row per physical line of the files read) and the landing report:
        files and lines read, and each file not read with its code (``unsupported_file``,
        ``bad_compression``), logged as a warning too.

    """
    files = {name: load() for name, load in raw_transactions.items() if not is_ignored(name)}
    zone = read_landing_zone(files)
    for error in zone.rejected.values():
        logger.warning("Landing file not read [%s]: %s", error.code, error)
    return ingest_lines(zone.lines, pd.Timestamp.now(tz="UTC")), zone.report()
