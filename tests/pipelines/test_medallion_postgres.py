"""The gold pipeline with the production catalog against a real PostgreSQL server."""

from pathlib import Path

import pandas as pd
import pytest

from tests.pipelines.test_medallion_pipeline import (
    DAY_1,
    DAY_2,
    DAY_3,
    GOLD_TABLES,
    _land,
    _run,
    _sqlite_url,
    _tables,
)

GOLD_PATH = ("bronze", "silver", "gold")  # not quality: prod makes stale (generated) data blocking
CARD_KEY_HEX = "5e" * 32  # the same card pseudonym key in both environments, so the tables compare


def _run_gold_path(project: Path, env: str | None = None) -> None:
    for pipeline in GOLD_PATH:
        _run(project, pipeline=pipeline, env=env, params={})


def _run_prod(project: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMFLOW_GOLD_DB_URL", url)
    monkeypatch.setenv("STREAMFLOW_CARD_PSEUDONYM_KEY", CARD_KEY_HEX)
    _run_gold_path(project, env="prod")


def _land_two_days(project: Path) -> None:
    _land(project, "2026-01-05", DAY_1)
    _land(project, "2026-01-06", DAY_2)


@pytest.mark.kafka
@pytest.mark.usefixtures("production_stream_topics")  # production reads the stream's alerts from their topic
def test_gold_in_postgresql_equals_gold_in_sqlite(
    kedro_project: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _land_two_days(kedro_project)
    _run_prod(kedro_project, postgres_database, monkeypatch)
    in_postgres = _tables(postgres_database)
    (kedro_project / "conf/local/credentials.yml").write_text(
        f'card_pseudonym_key:\n  key: "{CARD_KEY_HEX}"\n', encoding="utf-8"
    )
    _run_gold_path(kedro_project)
    in_sqlite = _tables(_sqlite_url(kedro_project))

    assert in_postgres["fact_transactions"]["transaction_id"].tolist() == ["t1", "t2", "t3", "t4"]
    for name in GOLD_TABLES:  # ingested_at is each run's own clock
        pd.testing.assert_frame_equal(
            in_postgres[name].drop(columns="ingested_at", errors="ignore"),
            in_sqlite[name].drop(columns="ingested_at", errors="ignore"),
            obj=name,
            check_dtype=False,
        )


@pytest.mark.kafka
@pytest.mark.usefixtures("production_stream_topics")
def test_postgresql_gold_is_idempotent_and_incremental(
    kedro_project: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _land_two_days(kedro_project)
    _run_prod(kedro_project, postgres_database, monkeypatch)
    first = _tables(postgres_database)
    _run_prod(kedro_project, postgres_database, monkeypatch)
    again = _tables(postgres_database)
    for name in GOLD_TABLES:
        pd.testing.assert_frame_equal(first[name], again[name], obj=name)

    _land(kedro_project, "2026-01-07", DAY_3)
    _run_prod(kedro_project, postgres_database, monkeypatch)
    after = _tables(postgres_database)
    assert after["fact_transactions"]["transaction_id"].tolist() == ["t1", "t2", "t3", "t4", "t5"]
    assert after["agg_daily_fraud"]["transactions"].tolist() == [3, 1, 1]


def test_unset_production_database_url_is_a_clear_error(kedro_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMFLOW_GOLD_DB_URL", raising=False)
    _land(kedro_project, "2026-01-05", DAY_1)
    with pytest.raises(Exception, match="STREAMFLOW_GOLD_DB_URL"):
        _run(kedro_project, pipeline="gold", env="prod", params={})
