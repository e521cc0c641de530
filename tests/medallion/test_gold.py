import hashlib
import hmac

import pandas as pd
import pandera.pandas as pa
import pytest

from streamflow.core import ContractConfig
from streamflow.medallion import gold
from streamflow.medallion.bronze import ingest_files
from streamflow.medallion.schemas import DimCustomer, FactFraudAlerts, FactTransactions
from streamflow.medallion.silver import run_silver
from tests.factories import payload

NOW = pd.Timestamp("2026-02-01T12:00:00Z")
CARD_KEY = bytes(range(32))


def _silver(*records: dict[str, object]) -> pd.DataFrame:
    import json

    raw = "\n".join(json.dumps(payload(**record)) for record in records).encode() + b"\n"
    return run_silver(ingest_files({"d.jsonl": raw}, NOW), ContractConfig(future_tolerance_minutes=0)).silver


SILVER = _silver(
    {"transaction_id": "t1", "customer_id": "A", "timestamp": "2026-01-05T10:15:00+01:00", "amount": 10.0},
    {"transaction_id": "t2", "customer_id": "A", "timestamp": "2026-01-05T09:45:00Z", "amount": 30.0},
    {"transaction_id": "t3", "customer_id": "B", "timestamp": "2026-01-06T00:30:00+02:00", "amount": 5.5},
)


def test_fact_rows_carry_utc_time_day_and_hour_keys() -> None:
    facts = gold.build_fact_transactions(SILVER, CARD_KEY)
    FactTransactions.validate(facts)
    assert facts["event_time"].astype(str).tolist() == [
        "2026-01-05 09:15:00",
        "2026-01-05 09:45:00",
        "2026-01-05 22:30:00",
    ]
    assert facts["event_date"].astype(str).tolist() == ["2026-01-05"] * 3  # t3 is Jan 6 locally, Jan 5 in UTC
    assert facts["event_hour"].astype(str).tolist() == [
        "2026-01-05 09:00:00",
        "2026-01-05 09:00:00",
        "2026-01-05 22:00:00",
    ]


def test_fact_rows_carry_the_keyed_card_pseudonym_and_never_the_card_id() -> None:
    silver = _silver(
        {"transaction_id": "t1", "card_id": "CARD-4111-0001"},
        {"transaction_id": "t2", "card_id": "CARD-5500-0002"},
        {"transaction_id": "t3", "card_id": "CARD-4111-0001"},
    )
    facts = gold.build_fact_transactions(silver, CARD_KEY)
    FactTransactions.validate(facts)
    assert "card_id" not in facts.columns
    assert facts["card_pseudonym"].tolist() == [
        hmac.new(CARD_KEY, card.encode("utf-8"), hashlib.sha256).hexdigest()
        for card in ["CARD-4111-0001", "CARD-5500-0002", "CARD-4111-0001"]
    ]
    assert not facts.astype(str).apply(lambda column: column.str.contains("CARD-")).any().any()


def test_fact_schema_refuses_a_clear_card_id() -> None:
    facts = gold.build_fact_transactions(SILVER, CARD_KEY)
    with pytest.raises((pa.errors.SchemaError, pa.errors.SchemaErrors)):
        FactTransactions.validate(facts.assign(card_pseudonym=SILVER["card_id"]))
    with pytest.raises((pa.errors.SchemaError, pa.errors.SchemaErrors)):
        FactTransactions.validate(facts.assign(card_id=SILVER["card_id"]))


def test_dimension_has_one_row_per_id_with_first_and_last_seen() -> None:
    dim = gold.build_dimension(SILVER, "customer_id")
    DimCustomer.validate(dim)
    assert dim.astype(str).values.tolist() == [
        ["A", "2026-01-05 09:15:00", "2026-01-05 09:45:00"],
        ["B", "2026-01-05 22:30:00", "2026-01-05 22:30:00"],
    ]


def test_empty_fraud_alerts_have_the_schema_and_no_rows() -> None:
    alerts = gold.empty_fraud_alerts()
    assert alerts.empty
    FactFraudAlerts.validate(alerts)


def test_hourly_sales_keep_only_the_refreshed_dates_and_compute_the_average() -> None:
    totals = pd.DataFrame(
        {
            "event_date": ["2026-01-05", "2026-01-05", "2026-01-04"],
            "event_hour": ["2026-01-05 09:00:00.000000", "2026-01-05 22:00:00.000000", "2026-01-04 08:00:00.000000"],
            "currency": ["EUR", "EUR", "EUR"],
            "channel": ["pos", "pos", "pos"],
            "transactions": [2, 1, 4],
            "amount_sum": [40.0, 5.5, 8.0],
        }
    )
    hourly = gold.aggregate_hourly_sales(totals, ["2026-01-05"])
    assert hourly[["transactions", "amount_sum", "amount_avg"]].values.tolist() == [[2, 40.0, 20.0], [1, 5.5, 5.5]]


def test_daily_fraud_fills_days_without_alerts_with_zero() -> None:
    transactions = pd.DataFrame({"event_date": ["2026-01-05", "2026-01-06"], "transactions": [3, 4]})
    alerts = pd.DataFrame({"event_date": ["2026-01-06"], "alerts": [1], "alerted_amount": [99.0]})
    daily = gold.aggregate_daily_fraud(transactions, alerts, ["2026-01-05", "2026-01-06"])
    assert daily[["transactions", "alerts", "alert_rate", "alerted_amount"]].values.tolist() == [
        [3, 0, 0.0, 0.0],
        [4, 1, 0.25, 99.0],
    ]


def test_daily_fraud_of_a_day_without_transactions_has_rate_zero() -> None:
    empty = pd.DataFrame({"event_date": pd.Series(dtype=object), "transactions": pd.Series(dtype="int64")})
    alerts = pd.DataFrame({"event_date": pd.Series(dtype=object), "alerts": [], "alerted_amount": []})
    daily = gold.aggregate_daily_fraud(empty, alerts, ["2026-01-07"])
    assert daily[["transactions", "alerts", "alert_rate"]].values.tolist() == [[0, 0, 0.0]]


@pytest.mark.parametrize("column", ["customer_id", "store_id", "product_id"])
def test_every_dimension_id_column_is_supported(column: str) -> None:
    assert gold.build_dimension(SILVER, column)[column].is_unique


def stream_alert(alert_id: str, ml_score: float | None) -> dict[str, object]:
    return {
        "alert_id": alert_id,
        "transaction_id": alert_id,
        "customer_id": "C0000045",
        "event_time": "2026-01-01T10:44:30+13:00",
        "amount": 117.92,
        "currency": "NZD",
        "scored_at": "2026-11-22T03:50:22.509617+00:00",
        "rules_score": 0.6,
        "ml_score": ml_score,
        "final_score": 0.6,
        "threshold": 0.5,
        "fired_rules": ["FR-001"],
        "reasons": ["FR-001 high_value: amount 117.92 is 12.0 std above the customer mean"],
        "top_features": [{"feature": "amount_zscore", "contribution": 0.4}],
        "model_version": "iforest-1",
    }


def test_stream_alerts_become_fact_rows_in_utc_once_each() -> None:
    first = pd.DataFrame([stream_alert("T1", None), stream_alert("T2", 0.7)])
    replayed = pd.DataFrame([stream_alert("T2", 0.7)])
    alerts = gold.build_fact_fraud_alerts([first, pd.DataFrame(), replayed])
    FactFraudAlerts.validate(alerts)
    assert alerts["alert_id"].tolist() == ["T1", "T2"]
    assert alerts["event_time"].iloc[0] == pd.Timestamp("2025-12-31 21:44:30")  # +13:00 to UTC
    assert alerts["event_date"].iloc[0] == pd.Timestamp("2025-12-31")
    assert pd.isna(alerts["ml_score"].iloc[0])
    assert alerts["top_features"].iloc[1] == '[{"feature":"amount_zscore","contribution":0.4}]'


def test_no_stream_alerts_give_the_empty_table() -> None:
    assert gold.build_fact_fraud_alerts([]).empty
