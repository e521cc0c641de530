"""The reference time of a monitoring or maintenance run."""

from __future__ import annotations

import pandas as pd


def as_of_time(value: str | None) -> pd.Timestamp:
    """The UTC time of an ISO 8601 ``as_of`` parameter (naive means UTC); now when it is null."""
    stamp = pd.Timestamp(value) if value else pd.Timestamp.now(tz="UTC")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
