"""Bronze: every landed line, as landed, with ingestion metadata. Nothing is dropped.

Which files hold events and how their bytes become lines is the landing contract
(``streamflow.core.landing``), shared with the stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from streamflow.core.landing import landed_lines
from streamflow.medallion.schemas import ARROW_STRING

ARROW_BINARY = pd.ArrowDtype(pa.binary())
BRONZE_COLUMNS: tuple[str, ...] = (
    "source_file",
    "line_number",
    "ingested_at",
    "payload_hash",
    "payload_size",
    "payload",
)


def ingest_files(files: Mapping[str, bytes], ingested_at: pd.Timestamp) -> pd.DataFrame:
    """One bronze row per line of every landed file (``*.jsonl`` or ``*.jsonl.gz``).

    Raises:
        LandingFileError: A file the landing contract does not read (the bronze node reports
            those instead, through ``read_landing_zone``).

    """
    return ingest_lines({name: landed_lines(name, data) for name, data in files.items()}, ingested_at)


def ingest_lines(files: Mapping[str, list[bytes]], ingested_at: pd.Timestamp) -> pd.DataFrame:
    """One bronze row per line of every file, in file-name then line order.

    Args:
        files: Each landed file's lines (raw bytes), by file name.
        ingested_at: Ingestion time (UTC) stamped on every row.

    Returns:
        Columns ``BRONZE_COLUMNS``; ``payload`` holds the raw bytes, ``payload_hash`` their SHA-256.

    """
    sources: list[str] = []
    numbers: list[int] = []
    payloads: list[bytes] = []
    for name in sorted(files):
        lines = files[name]
        sources.extend([name] * len(lines))
        numbers.extend(range(1, len(lines) + 1))
        payloads.extend(lines)
    count = len(payloads)
    return pd.DataFrame(
        {
            "source_file": pd.array(sources, dtype=ARROW_STRING),
            "line_number": np.array(numbers, dtype="int64"),
            "ingested_at": pd.Series(ingested_at, index=range(count), dtype="datetime64[ns, UTC]"),
            "payload_hash": pd.array([hashlib.sha256(p).hexdigest() for p in payloads], dtype=ARROW_STRING),
            "payload_size": np.array([len(p) for p in payloads], dtype="int64"),
            "payload": pd.array(pa.array(payloads, type=pa.binary()), dtype=ARROW_BINARY),
        }
    )
