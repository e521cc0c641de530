"""A run that needs the gold database fails at its start, with the fix, when the database is down."""

from pathlib import Path

import pytest

from streamflow.hooks import RunRefusedError
from tests.conftest import _free_port
from tests.pipelines.test_medallion_pipeline import DAY_1, _land, _run


def test_medallion_run_stops_before_bronze_when_postgres_is_down(kedro_project: Path) -> None:
    port = _free_port()  # a closed loopback port: the server is "down"
    (kedro_project / "conf/local/credentials.yml").write_text(
        f"gold_db:\n  con: postgresql+psycopg://streamflow:hunter2@127.0.0.1:{port}/streamflow\n", encoding="utf-8"
    )
    _land(kedro_project, "2026-01-05", DAY_1)

    with pytest.raises(RunRefusedError) as caught:  # printed by Kedro's CLI as one paragraph, no traceback
        _run(kedro_project, pipeline="medallion")

    message = str(caught.value)
    assert caught.value.code == "gold_db_unreachable"
    assert f"streamflow:***@127.0.0.1:{port}/streamflow is unreachable" in message
    assert "hunter2" not in message
    assert "conf/local/credentials.yml" in message
    assert not (kedro_project / "data/02_intermediate/bronze_transactions.parquet").exists()


def test_pipelines_without_gold_datasets_do_not_need_the_database(kedro_project: Path) -> None:
    (kedro_project / "conf/local/credentials.yml").write_text(
        f"gold_db:\n  con: postgresql+psycopg://streamflow@127.0.0.1:{_free_port()}/streamflow\n", encoding="utf-8"
    )
    _land(kedro_project, "2026-01-05", DAY_1)
    _run(kedro_project, pipeline="bronze")
    assert (kedro_project / "data/02_intermediate/bronze_transactions.parquet").exists()
