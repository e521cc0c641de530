"""Pandera contracts of the silver, quarantine and gold tables.

Gold timestamps are UTC without a time zone (``*_time``, ``*_seen``, ``*_at``), so
SQLite and PostgreSQL store and return the same values.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from streamflow.core.contract import CHANNELS, MAX_ID_LENGTH

UTC_TIMESTAMP = pd.DatetimeTZDtype(unit="ns", tz="UTC")
ARROW_STRING = pd.StringDtype("pyarrow")
# Strings read back from parquet (dtype "string") get pyarrow storage too, so the
# tables keep the dtype their schemas declare after a round trip through the catalog.
pd.set_option("mode.string_storage", "pyarrow")


def text(**checks: Any) -> Any:
    """A pyarrow-backed string column (its dtype check is O(1); ``object`` scans every value)."""
    return pa.Field(dtype_kwargs={"storage": "pyarrow"}, **checks)


def calendar_date(**checks: Any) -> Any:
    """A UTC calendar day held as a midnight timestamp; stored as SQL ``DATE``."""
    return pa.Field(metadata={"sql_type": "date"}, **checks)


def identifier(**checks: Any) -> Any:
    """A contract id column: 1..MAX_ID_LENGTH characters (the parser also rejects blank ids)."""
    return text(str_length={"min_value": 1, "max_value": MAX_ID_LENGTH}, **checks)


class SilverTransactions(pa.DataFrameModel):
    """Typed, deduplicated, validated events (``silver_transactions``)."""

    transaction_id: Series[pd.StringDtype] = identifier(unique=True)
    customer_id: Series[pd.StringDtype] = identifier()
    card_id: Series[pd.StringDtype] = identifier()
    store_id: Series[pd.StringDtype] = identifier()
    product_id: Series[pd.StringDtype] = identifier()
    amount: Series[float] = pa.Field(gt=0)
    currency: Series[pd.StringDtype] = text(str_matches=r"^[A-Z]{3}$")
    channel: Series[pd.StringDtype] = text(isin=sorted(CHANNELS))
    timestamp: Series[pd.StringDtype] = text()  # as sent, with its UTC offset
    event_time: Series[UTC_TIMESTAMP]  # type: ignore[valid-type]
    event_time_ms: Series[int]
    utc_offset_minutes: Series[int] = pa.Field(in_range={"min_value": -24 * 60, "max_value": 24 * 60})
    latitude: Series[float] = pa.Field(in_range={"min_value": -90.0, "max_value": 90.0})
    longitude: Series[float] = pa.Field(in_range={"min_value": -180.0, "max_value": 180.0})
    schema_version: Series[int] = pa.Field(ge=1)
    source_file: Series[pd.StringDtype] = text()
    line_number: Series[int] = pa.Field(ge=1)
    ingested_at: Series[UTC_TIMESTAMP]  # type: ignore[valid-type]

    class Config:
        strict = True
        coerce = False


class Quarantine(pa.DataFrameModel):
    """Rows that failed parsing or validation, with a stable code and the raw payload."""

    source_file: Series[str]
    line_number: Series[int] = pa.Field(ge=1)
    ingested_at: Series[UTC_TIMESTAMP]  # type: ignore[valid-type]
    payload_hash: Series[str] = pa.Field(str_length={"min_value": 64, "max_value": 64})
    payload_size: Series[int] = pa.Field(ge=0)
    payload: Series[str]
    payload_truncated: Series[bool]
    stage: Series[str] = pa.Field(isin=["parse", "validate"])
    error_code: Series[str]
    error_field: Series[str]
    error_message: Series[str]

    class Config:
        strict = True


class SilverOutcomes(pa.DataFrameModel):
    """Known outcomes (label contract v1) that matched a landed transaction (``silver_outcomes``)."""

    transaction_id: Series[pd.StringDtype] = identifier()
    is_fraud: Series[bool]
    labelled_at_ms: Series[int]
    source: Series[pd.StringDtype] = text(isin=["chargeback", "confirmed", "cleared", "other"])
    customer_id: Series[pd.StringDtype] = identifier()
    store_id: Series[pd.StringDtype] = identifier()
    event_time_ms: Series[int]
    pattern: Series[pd.StringDtype] = text(nullable=True)
    source_file: Series[pd.StringDtype] = text()
    line_number: Series[int] = pa.Field(ge=1)

    class Config:
        strict = True


class OutcomeQuarantine(pa.DataFrameModel):
    """Outcome records not used, each with its code (a broken record, an unknown or mismatched transaction)."""

    source_file: Series[str]
    line_number: Series[int] = pa.Field(ge=0)  # 0: the whole file
    payload: Series[str]
    error_code: Series[str]
    error_field: Series[str]
    error_message: Series[str]

    class Config:
        strict = True


class FactTransactions(pa.DataFrameModel):
    """``fact_transactions``: one row per transaction id, first arrival kept.

    The card is a keyed pseudonym (``streamflow.medallion.pseudonym``), never the card id.
    """

    transaction_id: Series[pd.StringDtype] = text(unique=True)
    customer_id: Series[pd.StringDtype] = text()
    card_pseudonym: Series[pd.StringDtype] = text(str_matches=r"^[0-9a-f]{64}$")
    store_id: Series[pd.StringDtype] = text()
    product_id: Series[pd.StringDtype] = text()
    amount: Series[float] = pa.Field(gt=0)
    currency: Series[pd.StringDtype] = text(str_length={"min_value": 3, "max_value": 3})
    channel: Series[pd.StringDtype] = text(isin=sorted(CHANNELS))
    event_time: Series[pa.DateTime]
    event_date: Series[pa.DateTime] = calendar_date()
    event_hour: Series[pa.DateTime]
    utc_offset_minutes: Series[int]
    latitude: Series[float] = pa.Field(in_range={"min_value": -90.0, "max_value": 90.0})
    longitude: Series[float] = pa.Field(in_range={"min_value": -180.0, "max_value": 180.0})
    schema_version: Series[int] = pa.Field(ge=1)
    source_file: Series[pd.StringDtype] = text()
    line_number: Series[int] = pa.Field(ge=1)
    ingested_at: Series[pa.DateTime]

    class Config:
        strict = True


class _Dimension(pa.DataFrameModel):
    first_seen: Series[pa.DateTime]
    last_seen: Series[pa.DateTime]

    @pa.dataframe_check(name="first_seen_not_after_last_seen")
    def _ordered(cls, frame: pd.DataFrame) -> Series[bool]:  # noqa: N805 - pandera check signature
        return frame["first_seen"] <= frame["last_seen"]  # type: ignore[return-value]

    class Config:
        strict = True


class DimCustomer(_Dimension):
    """``dim_customer``: one row per customer, first and last seen."""

    customer_id: Series[pd.StringDtype] = text(unique=True)


class DimStore(_Dimension):
    """``dim_store``: one row per store, first and last seen."""

    store_id: Series[pd.StringDtype] = text(unique=True)


class DimProduct(_Dimension):
    """``dim_product``: one row per product, first and last seen."""

    product_id: Series[pd.StringDtype] = text(unique=True)


class FactFraudAlerts(pa.DataFrameModel):
    """``fact_fraud_alerts``: the stream's alert decisions (empty until scoring runs)."""

    alert_id: Series[pd.StringDtype] = text(unique=True)
    transaction_id: Series[pd.StringDtype] = text()
    customer_id: Series[pd.StringDtype] = text()
    event_time: Series[pa.DateTime]
    event_date: Series[pa.DateTime] = calendar_date()
    scored_at: Series[pa.DateTime]
    amount: Series[float]
    rules_score: Series[float] = pa.Field(in_range={"min_value": 0.0, "max_value": 1.0})
    ml_score: Series[float] = pa.Field(nullable=True)
    final_score: Series[float]
    threshold: Series[float]
    fired_rules: Series[pd.StringDtype] = text()
    reasons: Series[pd.StringDtype] = text()
    top_features: Series[pd.StringDtype] = text()
    model_version: Series[pd.StringDtype] = text()

    class Config:
        strict = True


class AggHourlySales(pa.DataFrameModel):
    """``agg_hourly_sales``: transactions and amounts per UTC hour, currency and channel."""

    event_date: Series[pa.DateTime] = calendar_date()
    event_hour: Series[pa.DateTime]
    currency: Series[pd.StringDtype] = text()
    channel: Series[pd.StringDtype] = text(isin=sorted(CHANNELS))
    transactions: Series[int] = pa.Field(ge=1)
    amount_sum: Series[float] = pa.Field(gt=0)
    amount_avg: Series[float] = pa.Field(gt=0)

    class Config:
        strict = True
        unique = ("event_hour", "currency", "channel")


class AggDailyFraud(pa.DataFrameModel):
    """``agg_daily_fraud``: alerts against transactions per UTC day."""

    event_date: Series[pa.DateTime] = calendar_date(unique=True)
    transactions: Series[int] = pa.Field(ge=0)
    alerts: Series[int] = pa.Field(ge=0)
    alert_rate: Series[float] = pa.Field(in_range={"min_value": 0.0, "max_value": 1.0})
    alerted_amount: Series[float] = pa.Field(ge=0)

    class Config:
        strict = True


class QualityCheckRuns(pa.DataFrameModel):
    """``quality_check_runs``: one row per check per run."""

    run_id: Series[pd.StringDtype] = text()
    checked_at: Series[pa.DateTime]
    check_name: Series[pd.StringDtype] = text()
    value: Series[float] = pa.Field(nullable=True)
    lower_bound: Series[float] = pa.Field(nullable=True)
    upper_bound: Series[float] = pa.Field(nullable=True)
    passed: Series[bool]
    blocking: Series[bool]
    message: Series[pd.StringDtype] = text()

    class Config:
        strict = True
        unique = ("run_id", "check_name")
