"""Gold: facts, dimensions and aggregates from silver, ready for analytics.

Writes are incremental and idempotent (see ``streamflow.datasets.GoldTableDataset``):
facts keep the first arrival of a transaction, dimensions upsert first/last seen,
aggregates are recomputed from the whole fact table for the event dates a batch touches.
Facts hold a keyed pseudonym of the card (``streamflow.medallion.pseudonym``), never its id.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from streamflow.medallion.pseudonym import card_pseudonyms
from streamflow.medallion.schemas import (
    ARROW_STRING,
    AggDailyFraud,
    AggHourlySales,
    FactFraudAlerts,
    FactTransactions,
)

FACT_COLUMNS: tuple[str, ...] = tuple(FactTransactions.to_schema().columns)


def _utc_naive(values: pd.Series[Any]) -> pd.Series[Any]:
    return values.dt.tz_convert("UTC").dt.tz_localize(None)


def build_fact_transactions(silver: pd.DataFrame, card_key: bytes) -> pd.DataFrame:
    """Silver rows as ``fact_transactions`` rows (UTC times without zone, day and hour keys).

    Args:
        silver: Silver transactions.
        card_key: The HMAC key of the card pseudonyms (at least 32 bytes).

    Returns:
        The fact rows, with ``card_pseudonym`` in place of the clear ``card_id``.

    Raises:
        ShortCardPseudonymKeyError: If ``card_key`` is too short.

    """
    event_time = _utc_naive(silver["event_time"])
    facts = silver.assign(
        card_pseudonym=card_pseudonyms(silver["card_id"], card_key),
        event_time=event_time,
        event_date=event_time.dt.normalize(),
        event_hour=event_time.dt.floor("h"),
        ingested_at=_utc_naive(silver["ingested_at"]),
    )
    return facts.loc[:, list(FACT_COLUMNS)].reset_index(drop=True)


def build_dimension(silver: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """One row per id with the first and last event time seen in this batch."""
    event_time = _utc_naive(silver["event_time"])
    grouped = event_time.groupby(silver[id_column], sort=True, observed=True)
    dimension = pd.DataFrame({"first_seen": grouped.min(), "last_seen": grouped.max()})
    dimension = dimension.rename_axis(id_column).reset_index()
    return dimension.astype({id_column: ARROW_STRING})


def empty_fraud_alerts() -> pd.DataFrame:
    """``fact_fraud_alerts`` with its schema and no rows (until the stream writes alerts)."""
    schema = FactFraudAlerts.to_schema()
    return pd.DataFrame({name: pd.Series(dtype=column.dtype.type) for name, column in schema.columns.items()})


ALERT_LIST_COLUMNS: tuple[str, ...] = ("fired_rules", "reasons", "top_features")


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def build_fact_fraud_alerts(stream_alerts: list[pd.DataFrame]) -> pd.DataFrame:
    """The stream's alert records (JSON lines) as ``fact_fraud_alerts`` rows.

    Times become UTC without zone like the other facts; the list fields are kept as JSON
    text. An alert written twice (a replayed stream) keeps its first record.
    """
    frames = [frame for frame in stream_alerts if not frame.empty]
    if not frames:
        return empty_fraud_alerts()
    alerts = pd.concat(frames, ignore_index=True).drop_duplicates("alert_id", keep="first")
    event_time = _utc_naive(pd.to_datetime(alerts["event_time"], utc=True, format="ISO8601"))
    rows = alerts.assign(
        event_time=event_time,
        event_date=event_time.dt.normalize(),
        scored_at=_utc_naive(pd.to_datetime(alerts["scored_at"], utc=True, format="ISO8601")),
        ml_score=pd.to_numeric(alerts["ml_score"], errors="coerce").astype("float64"),
        **{
            name: alerts[name].map(lambda value: json.dumps(value, separators=(",", ":")))
            for name in ALERT_LIST_COLUMNS
        },
    )
    columns = list(FactFraudAlerts.to_schema().columns)
    typed = rows.loc[:, columns].astype({name: ARROW_STRING for name in columns if rows[name].dtype == object})
    return typed.astype({name: "float64" for name in ("amount", "rules_score", "final_score", "threshold")})


def aggregate_hourly_sales(hourly_totals: pd.DataFrame, event_dates: list[str]) -> pd.DataFrame:
    """``agg_hourly_sales`` rows for ``event_dates``.

    Args:
        hourly_totals: ``event_date, event_hour, currency, channel, transactions, amount_sum``
            grouped over the whole fact table by the database.
        event_dates: The dates this batch touched (``YYYY-MM-DD``).

    """
    totals = _typed_totals(hourly_totals, ["event_date", "event_hour"], ["transactions", "amount_sum"])
    hourly = totals[totals["event_date"].isin(pd.to_datetime(event_dates))]
    hourly = hourly.assign(
        currency=hourly["currency"].astype(ARROW_STRING),
        channel=hourly["channel"].astype(ARROW_STRING),
        transactions=hourly["transactions"].astype("int64"),
        amount_sum=hourly["amount_sum"].astype("float64"),
        amount_avg=hourly["amount_sum"].astype("float64") / hourly["transactions"],
    )
    columns = list(AggHourlySales.to_schema().columns)
    return AggHourlySales.validate(
        hourly[columns].sort_values(["event_hour", "currency", "channel"], ignore_index=True)
    )


def aggregate_daily_fraud(
    daily_transactions: pd.DataFrame, daily_alerts: pd.DataFrame, event_dates: list[str]
) -> pd.DataFrame:
    """``agg_daily_fraud`` rows for ``event_dates``.

    Args:
        daily_transactions: ``event_date, transactions`` over the whole fact table.
        daily_alerts: ``event_date, alerts, alerted_amount`` over the whole alerts table.
        event_dates: The dates this batch touched (``YYYY-MM-DD``).

    """
    days = pd.DataFrame({"event_date": pd.to_datetime(event_dates)})
    transactions = _typed_totals(daily_transactions, ["event_date"], ["transactions"])
    alerts = _typed_totals(daily_alerts, ["event_date"], ["alerts", "alerted_amount"])
    daily = days.merge(transactions, on="event_date", how="left").merge(alerts, on="event_date", how="left")
    daily = daily.fillna({"transactions": 0, "alerts": 0, "alerted_amount": 0.0}).astype(
        {"transactions": "int64", "alerts": "int64", "alerted_amount": "float64"}
    )
    daily["alert_rate"] = (daily["alerts"] / daily["transactions"].where(daily["transactions"] > 0)).fillna(0.0)
    return AggDailyFraud.validate(daily[list(AggDailyFraud.to_schema().columns)])


def gold_summary(
    daily_transactions: pd.DataFrame, daily_alerts: pd.DataFrame, hourly: pd.DataFrame, daily: pd.DataFrame
) -> dict[str, Any]:
    """Row counts of the gold tables after this run."""
    transactions = _typed_totals(daily_transactions, ["event_date"], ["transactions"])
    return {
        "fact_transactions_rows": int(transactions["transactions"].sum()),
        "fact_fraud_alerts_rows": int(pd.to_numeric(daily_alerts["alerts"]).sum()),
        "fact_dates": [str(day.date()) for day in sorted(transactions["event_date"])],
        "event_dates_refreshed": [str(day.date()) for day in daily["event_date"]],
        "agg_hourly_sales_rows_refreshed": len(hourly),
        "agg_daily_fraud_rows_refreshed": len(daily),
    }


def _typed_totals(frame: pd.DataFrame, time_columns: list[str], number_columns: list[str]) -> pd.DataFrame:
    """Query results with times as timestamps and numbers as numbers.

    SQLite returns times as text, and an empty result comes back as ``object`` columns.
    """
    times = {name: pd.to_datetime(frame[name]) for name in time_columns}
    numbers = {name: pd.to_numeric(frame[name]) for name in number_columns}
    return frame.assign(**times, **numbers)
