"""Gold: facts, dimensions and aggregates from silver, ready for analytics.

Writes are incremental and idempotent (see ``streamflow.datasets.GoldTableDataset``):
facts keep the first arrival of a transaction, dimensions upsert first/last seen,
aggregates are recomputed from the whole fact table for the event dates a batch touches.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from streamflow.medallion.schemas import (
    AggDailyFraud,
    AggHourlySales,
    FactFraudAlerts,
    FactTransactions,
)

FACT_COLUMNS: tuple[str, ...] = tuple(FactTransactions.to_schema().columns)


def _utc_naive(values: pd.Series[Any]) -> pd.Series[Any]:
    return values.dt.tz_convert("UTC").dt.tz_localize(None)


def build_fact_transactions(silver: pd.DataFrame) -> pd.DataFrame:
    """Silver rows as ``fact_transactions`` rows (UTC times without zone, date and hour keys)."""
    event_time = _utc_naive(silver["event_time"])
    facts = silver.assign(
        event_time=event_time,
        event_date=event_time.dt.date.astype(object),
        event_hour=event_time.dt.floor("h"),
        ingested_at=_utc_naive(silver["ingested_at"]),
    )
    return facts.loc[:, list(FACT_COLUMNS)].reset_index(drop=True)


def build_dimension(silver: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """One row per id with the first and last event time seen in this batch."""
    event_time = _utc_naive(silver["event_time"])
    grouped = event_time.groupby(silver[id_column], sort=True, observed=True)
    return (
        pd.DataFrame(
            {
                "first_seen": grouped.min(),
                "last_seen": grouped.max(),
            }
        )
        .rename_axis(id_column)
        .reset_index()
    )


def empty_fraud_alerts() -> pd.DataFrame:
    """``fact_fraud_alerts`` with its schema and no rows (until the stream writes alerts)."""
    schema = FactFraudAlerts.to_schema()
    return pd.DataFrame(
        {name: pd.Series(dtype=_pandas_dtype(str(column.dtype))) for name, column in schema.columns.items()}
    )


def _pandas_dtype(dtype: str) -> str:
    return "object" if dtype == "date" else dtype


def aggregate_hourly_sales(facts: pd.DataFrame, event_dates: list[str]) -> pd.DataFrame:
    """Transactions and amounts per UTC hour, currency and channel for ``event_dates``."""
    touched = facts[facts["event_date"].astype(str).isin(event_dates)]
    grouped = touched.groupby(["event_hour", "currency", "channel"], sort=True, observed=True)["amount"]
    hourly = grouped.agg(transactions="count", amount_sum="sum", amount_avg="mean").reset_index()
    hourly.insert(0, "event_date", hourly["event_hour"].dt.date.astype(object))
    return AggHourlySales.validate(hourly.astype({"transactions": "int64"}))


def aggregate_daily_fraud(facts: pd.DataFrame, alerts: pd.DataFrame, event_dates: list[str]) -> pd.DataFrame:
    """Alerts against transactions per UTC day for ``event_dates``."""
    touched = facts[facts["event_date"].astype(str).isin(event_dates)]
    transactions = touched.groupby("event_date").size().rename("transactions")
    alerted = alerts[alerts["event_date"].astype(str).isin(event_dates)].groupby("event_date")
    daily = pd.concat(
        [transactions, alerted.size().rename("alerts"), alerted["amount"].sum().rename("alerted_amount")], axis=1
    ).fillna(0)
    daily = daily.astype({"transactions": "int64", "alerts": "int64", "alerted_amount": "float64"})
    daily["alert_rate"] = (daily["alerts"] / daily["transactions"].where(daily["transactions"] > 0)).fillna(0.0)
    daily = daily.rename_axis("event_date").reset_index()
    daily["event_date"] = daily["event_date"].astype(object)
    return AggDailyFraud.validate(daily[list(AggDailyFraud.to_schema().columns)])


def gold_summary(
    facts: pd.DataFrame, alerts: pd.DataFrame, hourly: pd.DataFrame, daily: pd.DataFrame, event_dates: list[str]
) -> dict[str, Any]:
    """Row counts of the gold tables after this run."""
    return {
        "fact_transactions_rows": len(facts),
        "fact_fraud_alerts_rows": len(alerts),
        "event_dates_refreshed": event_dates,
        "agg_hourly_sales_rows_refreshed": len(hourly),
        "agg_daily_fraud_rows_refreshed": len(daily),
        "fact_dates": sorted({str(day) for day in facts["event_date"].unique()}),
    }
