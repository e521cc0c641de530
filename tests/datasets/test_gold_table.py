from pathlib import Path

import pandas as pd
import pytest
from kedro.io.core import DatasetError

from streamflow.datasets import GoldTableDataset
from streamflow.datasets.connection import GoldDatabaseError

SCHEMA = "streamflow.medallion.schemas.DimCustomer"


def _dim(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "first_seen", "last_seen"])
    return frame.astype(
        {"customer_id": "string[pyarrow]", "first_seen": "datetime64[ns]", "last_seen": "datetime64[ns]"}
    )


def _dataset(tmp_path: Path, **options: object) -> GoldTableDataset:
    options.setdefault("primary_key", ["customer_id"])
    return GoldTableDataset(
        table_name="dim_customer",
        schema=SCHEMA,
        credentials={"con": f"sqlite:///{tmp_path / 'gold.sqlite'}"},
        **options,
    )


def test_loading_a_missing_table_gives_an_empty_typed_frame(tmp_path: Path) -> None:
    frame = _dataset(tmp_path).load()
    assert frame.empty
    assert list(frame.columns) == ["first_seen", "last_seen", "customer_id"]


def test_insert_new_keeps_the_first_row_and_is_idempotent(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, write_mode="insert_new")
    dataset.save(_dim([("A", "2026-01-01", "2026-01-02")]))
    dataset.save(_dim([("A", "2025-01-01", "2027-01-01"), ("B", "2026-01-03", "2026-01-03")]))
    dataset.save(_dim([("A", "2025-01-01", "2027-01-01"), ("B", "2026-01-03", "2026-01-03")]))
    rows = dataset.load().sort_values("customer_id").astype(str).values.tolist()
    assert rows == [["2026-01-01", "2026-01-02", "A"], ["2026-01-03", "2026-01-03", "B"]]


def test_upsert_merges_first_seen_with_min_and_last_seen_with_max(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, write_mode="upsert", merge={"first_seen": "min", "last_seen": "max"})
    dataset.save(_dim([("A", "2026-01-05", "2026-01-06")]))
    dataset.save(_dim([("A", "2026-01-02", "2026-01-03")]))  # earlier batch arriving late
    dataset.save(_dim([("A", "2026-01-07", "2026-01-09")]))
    assert dataset.load().astype(str).values.tolist() == [["2026-01-02", "2026-01-09", "A"]]


def test_replace_partitions_rewrites_only_the_partitions_present(tmp_path: Path) -> None:
    dataset = GoldTableDataset(
        table_name="agg_daily_fraud",
        schema="streamflow.medallion.schemas.AggDailyFraud",
        primary_key=["event_date"],
        write_mode="replace_partitions",
        partition_column="event_date",
        credentials={"con": f"sqlite:///{tmp_path / 'gold.sqlite'}"},
    )

    def daily(days: list[str], transactions: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "event_date": pd.to_datetime(days),
                "transactions": transactions,
                "alerts": 0,
                "alert_rate": 0.0,
                "alerted_amount": 0.0,
            }
        )

    dataset.save(daily(["2026-01-01", "2026-01-02"], 10))
    dataset.save(daily(["2026-01-02"], 20))
    loaded = dataset.load().sort_values("event_date")
    assert loaded["transactions"].tolist() == [10, 20]
    assert loaded["event_date"].astype(str).tolist() == ["2026-01-01", "2026-01-02"]


def test_rows_breaking_the_schema_are_refused_before_writing(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path)
    with pytest.raises(DatasetError, match="first_seen_not_after_last_seen"):
        dataset.save(_dim([("A", "2026-01-05", "2026-01-01")]))
    assert dataset.load().empty


def test_unreachable_database_error_says_how_to_fix_it(tmp_path: Path) -> None:
    dataset = GoldTableDataset(
        table_name="dim_customer",
        schema=SCHEMA,
        primary_key=["customer_id"],
        credentials={"con": f"sqlite:///{tmp_path / 'missing-dir' / 'gold.sqlite'}"},
    )
    with pytest.raises(GoldDatabaseError, match=r"unreachable.*missing-dir.*run from the project root"):
        dataset.load()


def test_missing_connection_is_a_clear_error() -> None:
    with pytest.raises(DatasetError, match="STREAMFLOW_GOLD_DB_URL"):
        GoldTableDataset(table_name="t", schema=SCHEMA, primary_key=["customer_id"], credentials={"con": ""})


def test_bad_options_are_rejected() -> None:
    with pytest.raises(DatasetError, match="write_mode"):
        GoldTableDataset(
            table_name="t", schema=SCHEMA, primary_key=["x"], write_mode="merge", credentials={"con": "sqlite://"}
        )  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match="partition_column"):
        GoldTableDataset(
            table_name="t",
            schema=SCHEMA,
            primary_key=["x"],
            write_mode="replace_partitions",
            credentials={"con": "sqlite://"},
        )
    with pytest.raises(DatasetError, match="cannot import"):
        GoldTableDataset(table_name="t", schema="nope.Model", primary_key=["x"], credentials={"con": "sqlite://"})
