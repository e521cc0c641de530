"""Nodes of the ``gold`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from streamflow.medallion import gold


def build_fact_transactions(silver_transactions: pd.DataFrame) -> pd.DataFrame:
    """Silver rows shaped for ``fact_transactions``."""
    return gold.build_fact_transactions(silver_transactions)


def build_dim_customer(silver_transactions: pd.DataFrame) -> pd.DataFrame:
    """First and last seen per customer in this batch (upserted into ``dim_customer``)."""
    return gold.build_dimension(silver_transactions, "customer_id")


def build_dim_store(silver_transactions: pd.DataFrame) -> pd.DataFrame:
    """First and last seen per store in this batch (upserted into ``dim_store``)."""
    return gold.build_dimension(silver_transactions, "store_id")


def build_dim_product(silver_transactions: pd.DataFrame) -> pd.DataFrame:
    """First and last seen per product in this batch (upserted into ``dim_product``)."""
    return gold.build_dimension(silver_transactions, "product_id")


def build_fact_fraud_alerts() -> pd.DataFrame:
    """``fact_fraud_alerts`` rows: none until the stream writes alerts (the table gets its schema)."""
    return gold.empty_fraud_alerts()


def build_aggregates(
    fact_transactions: pd.DataFrame, fact_fraud_alerts: pd.DataFrame, silver_report: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Refresh the aggregates of the event dates this batch touched, from the whole fact table.

    Args:
        fact_transactions: The fact table after this run's inserts.
        fact_fraud_alerts: The alerts table.
        silver_report: This batch's report (its ``event_dates``).

    Returns:
        Hourly sales and daily fraud rows for those dates, and the gold row counts.

    """
    dates = silver_report["event_dates"]
    hourly = gold.aggregate_hourly_sales(fact_transactions, dates)
    daily = gold.aggregate_daily_fraud(fact_transactions, fact_fraud_alerts, dates)
    return hourly, daily, gold.gold_summary(fact_transactions, fact_fraud_alerts, hourly, daily, dates)
