"""Nodes of the ``gold`` pipeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from streamflow.medallion import gold


def build_fact_transactions(silver_transactions: pd.DataFrame, card_pseudonym_key: bytes) -> pd.DataFrame:
    """Silver rows shaped for ``fact_transactions``, the card id replaced by its keyed pseudonym."""
    return gold.build_fact_transactions(silver_transactions, card_pseudonym_key)


def build_dim_customer(silver_transactions: pd.DataFrame) -> pd.DataFrame:
    """First and last seen per customer in this batch (upserted into ``dim_customer``)."""
    return gold.build_dimension(silver_transactions, "customer_id")


def build_dim_store(silver_transactions: pd.DataFrame) -> pd.DataFrame:
    """First and last seen per store in this batch (upserted into ``dim_store``)."""
    return gold.build_dimension(silver_transactions, "store_id")


def build_dim_product(silver_transactions: pd.DataFrame) -> pd.DataFrame:
    """First and last seen per product in this batch (upserted into ``dim_product``)."""
    return gold.build_dimension(silver_transactions, "product_id")


def build_fact_fraud_alerts(stream_alerts: dict[str, Callable[[], pd.DataFrame]]) -> pd.DataFrame:
    """``fact_fraud_alerts`` rows from the stream's alert files (none before the stream has run)."""
    return gold.build_fact_fraud_alerts([load() for _, load in sorted(stream_alerts.items())])


def build_aggregates(
    hourly_totals: pd.DataFrame,
    daily_transactions: pd.DataFrame,
    daily_alerts: pd.DataFrame,
    silver_report: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Refresh the aggregates of the event dates this batch touched.

    The totals come grouped by the database over the whole fact and alert tables
    (SQL query datasets), so late rows of an earlier day are counted too.

    Args:
        hourly_totals: Transactions and amount sums per hour, currency and channel.
        daily_transactions: Transactions per day.
        daily_alerts: Alerts and alerted amounts per day.
        silver_report: This batch's report (its ``event_dates``).

    Returns:
        Hourly sales and daily fraud rows for those dates, and the gold row counts.

    """
    dates = silver_report["event_dates"]
    hourly = gold.aggregate_hourly_sales(hourly_totals, dates)
    daily = gold.aggregate_daily_fraud(daily_transactions, daily_alerts, dates)
    return hourly, daily, gold.gold_summary(daily_transactions, daily_alerts, hourly, daily)
