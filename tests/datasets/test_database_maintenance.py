from pathlib import Path

import pytest
import sqlalchemy as sa
from kedro.io.core import DatasetError

from streamflow.datasets import DatabaseMaintenanceDataset


def _sqlite_with_free_pages(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x TEXT)")
        connection.execute(sa.text("INSERT INTO t VALUES (:x)"), [{"x": "x" * 500} for _ in range(2000)])
        connection.exec_driver_sql("DELETE FROM t")
    engine.dispose()
    return url


def test_sqlite_vacuum_reclaims_free_pages(tmp_path: Path) -> None:
    dataset = DatabaseMaintenanceDataset(credentials={"con": _sqlite_with_free_pages(tmp_path / "gold.sqlite")})
    before = dataset.load()
    assert before["dialect"] == "sqlite"
    assert before["free_bytes"] > 0
    dataset.save(["VACUUM", "ANALYZE"])
    after = dataset.load()
    assert after["free_bytes"] == 0
    assert after["size_bytes"] < before["size_bytes"]


def test_postgres_vacuum_analyze_runs_outside_a_transaction(postgres_database: str) -> None:
    engine = sa.create_engine(postgres_database)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x int)")
        connection.exec_driver_sql("INSERT INTO t SELECT generate_series(1, 1000)")
    dataset = DatabaseMaintenanceDataset(credentials={"con": postgres_database})
    state = dataset.load()
    assert state["dialect"] == "postgresql"
    assert state["size_bytes"] > 0
    dataset.save(["VACUUM (ANALYZE)"])
    with engine.connect() as connection:
        analyzed = connection.exec_driver_sql("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 't'")
        assert analyzed.scalar_one() is not None
    engine.dispose()


def test_missing_credentials_are_refused_with_a_hint() -> None:
    with pytest.raises(DatasetError, match="credentials with a 'con' URL"):
        DatabaseMaintenanceDataset(credentials={})


def test_an_unreachable_database_names_it_without_the_password() -> None:
    dataset = DatabaseMaintenanceDataset(credentials={"con": "postgresql+psycopg://u:secret@127.0.0.1:1/db"})
    with pytest.raises(DatasetError, match=r"Cannot run housekeeping on postgresql\+psycopg://u:\*\*\*@") as caught:
        dataset.load()
    assert "secret" not in str(caught.value)
