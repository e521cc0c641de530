import hashlib
import hmac
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from streamflow.datasets.gold_table import table_from_schema
from streamflow.medallion.pseudonym import ShortCardPseudonymKeyError
from streamflow.medallion.schemas import FactTransactions
from streamflow.operations.card_pseudonym_migration import has_clear_card_column, migrate

KEY = bytes(range(100, 132))
CARDS = ["CARD-4111-0001", "CARD-5500-0002", "CARD-4111-0001", "卡-3"]


def _legacy_facts(engine: sa.Engine) -> None:
    """fact_transactions as the gold pipeline created it before pseudonyms (clear card_id)."""
    schema = FactTransactions.to_schema().rename_columns({"card_pseudonym": "card_id"})
    table = table_from_schema("fact_transactions", schema, primary_key=["transaction_id"], indexes=[["event_date"]])
    when = pd.Timestamp("2026-01-05 10:00:00")
    rows = [
        {
            "transaction_id": f"t{number}",
            "customer_id": "C1",
            "card_id": card,
            "store_id": "S1",
            "product_id": "P1",
            "amount": 10.0,
            "currency": "EUR",
            "channel": "pos",
            "event_time": when,
            "event_date": when.date(),
            "event_hour": when,
            "utc_offset_minutes": 0,
            "latitude": 0.0,
            "longitude": 0.0,
            "schema_version": 1,
            "source_file": "2026-01-05.jsonl",
            "line_number": number,
            "ingested_at": when,
        }
        for number, card in enumerate(CARDS, start=1)
    ]
    with engine.begin() as connection:
        table.create(connection)
        connection.execute(table.insert(), rows)


def _check_migrated(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        facts = pd.read_sql("SELECT * FROM fact_transactions ORDER BY transaction_id", connection)
    assert "card_id" not in facts.columns
    assert facts["card_pseudonym"].tolist() == [
        hmac.new(KEY, card.encode("utf-8"), hashlib.sha256).hexdigest() for card in CARDS
    ]


def test_sqlite_facts_get_pseudonyms_lose_the_clear_column_and_the_file_loses_the_values(tmp_path: Path) -> None:
    path = tmp_path / "gold.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    _legacy_facts(engine)
    assert has_clear_card_column(engine, "fact_transactions")

    assert migrate(engine, KEY) == len(CARDS)
    _check_migrated(engine)
    assert not has_clear_card_column(engine, "fact_transactions")
    engine.dispose()
    assert b"CARD-4111-0001" not in path.read_bytes()  # dropped and vacuumed, not only hidden


def test_migrating_twice_or_a_missing_table_changes_nothing(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'gold.sqlite'}")
    assert migrate(engine, KEY) == 0
    _legacy_facts(engine)
    migrate(engine, KEY)
    assert migrate(engine, KEY) == 0
    _check_migrated(engine)
    engine.dispose()


def test_migration_refuses_a_short_key_before_touching_the_table(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'gold.sqlite'}")
    _legacy_facts(engine)
    with pytest.raises(ShortCardPseudonymKeyError):
        migrate(engine, b"short")
    assert has_clear_card_column(engine, "fact_transactions")
    engine.dispose()


def test_postgresql_facts_are_migrated_in_place(postgres_database: str) -> None:
    engine = sa.create_engine(postgres_database)
    _legacy_facts(engine)
    assert migrate(engine, KEY) == len(CARDS)
    _check_migrated(engine)
    assert migrate(engine, KEY) == 0
    engine.dispose()
