"""Gold stores a keyed pseudonym of the card, with a key generated locally and required in prod."""

import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from streamflow.datasets.gold_table import table_from_schema
from streamflow.hooks import RunRefusedError
from streamflow.medallion.schemas import FactTransactions
from streamflow.operations import card_pseudonym_migration
from tests.factories import payload
from tests.pipelines.test_medallion_pipeline import (
    GOLD_TABLES,
    _land,
    _run,
    _sqlite_url,
    _tables,
)

KEY_FILE = "conf/local/credentials_card_pseudonym.yml"
CARDS = {"t1": "CARD-4111-0001", "t2": "CARD-5500-0002", "t3": "CARD-4111-0001"}


def _lines(cards: dict[str, str], day: str) -> list[str]:
    return [
        json.dumps(payload(transaction_id=tx, customer_id=f"C-{tx}", card_id=card, timestamp=f"{day}T10:00:00Z"))
        for tx, card in cards.items()
    ]


def _hmac(key: bytes, card: str) -> str:
    return hmac.new(key, card.encode("utf-8"), hashlib.sha256).hexdigest()


def _local_key(project: Path) -> bytes:
    return bytes.fromhex(yaml.safe_load((project / KEY_FILE).read_text())["card_pseudonym_key"]["key"])


def _pseudonyms(url: str) -> dict[str, str]:
    facts = _tables(url)["fact_transactions"]
    return dict(zip(facts["transaction_id"], facts["card_pseudonym"], strict=True))


def _prod_env(project: Path, monkeypatch: pytest.MonkeyPatch, key: str | None) -> str:
    url = f"sqlite:///{project / 'data/03_primary/gold_prod.sqlite'}"
    monkeypatch.setenv("STREAMFLOW_GOLD_DB_URL", url)
    if key is None:
        monkeypatch.delenv("STREAMFLOW_CARD_PSEUDONYM_KEY", raising=False)
    else:
        monkeypatch.setenv("STREAMFLOW_CARD_PSEUDONYM_KEY", key)
    return url


def test_gold_has_the_keyed_pseudonym_and_no_clear_card_id_anywhere(kedro_project: Path) -> None:
    _land(kedro_project, "2026-01-05", _lines(CARDS, "2026-01-05"))
    _run(kedro_project)

    tables = _tables(_sqlite_url(kedro_project))
    assert set(GOLD_TABLES) <= set(tables)
    for name, table in tables.items():
        assert "card_id" not in table.columns, name
        text = table.astype(str)
        for card in set(CARDS.values()):
            assert not text.apply(lambda column, card=card: column.str.contains(card, regex=False)).any().any(), name
    key = _local_key(kedro_project)
    assert _pseudonyms(_sqlite_url(kedro_project)) == {tx: _hmac(key, card) for tx, card in CARDS.items()}


def test_first_local_run_generates_the_key_once_and_later_runs_reuse_it(
    kedro_project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_file = kedro_project / KEY_FILE
    assert not key_file.exists()
    _land(kedro_project, "2026-01-05", _lines(CARDS, "2026-01-05"))
    with caplog.at_level(logging.WARNING, logger="streamflow.card_key"):
        _run(kedro_project)
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(_local_key(kedro_project)) == 32
    generated = [record for record in caplog.records if "generated one in" in record.getMessage()]
    assert len(generated) == 1
    assert str(key_file) in generated[0].getMessage()
    assert key_file.read_text() not in caplog.text  # the key itself is never logged
    content = key_file.read_bytes()
    first = _pseudonyms(_sqlite_url(kedro_project))

    caplog.clear()
    _land(kedro_project, "2026-01-06", _lines({"t4": "CARD-4111-0001"}, "2026-01-06"))
    with caplog.at_level(logging.WARNING, logger="streamflow.card_key"):
        _run(kedro_project)
    assert key_file.read_bytes() == content
    assert "generated one in" not in caplog.text
    second = _pseudonyms(_sqlite_url(kedro_project))
    assert {tx: second[tx] for tx in first} == first
    assert second["t4"] == first["t1"]  # the same card, a day later: the same pseudonym, joins hold


def test_key_the_user_set_in_conf_local_is_used_and_nothing_else_there_is_touched(kedro_project: Path) -> None:
    key_hex = secrets.token_hex(32)
    credentials = kedro_project / "conf/local/credentials.yml"
    text = (
        "# my settings\n"
        f"gold_db:\n  con: sqlite:///{kedro_project / 'data/03_primary/mine.sqlite'}\n"
        f'card_pseudonym_key:\n  key: "{key_hex}"\n'
    )
    credentials.write_text(text, encoding="utf-8")
    _land(kedro_project, "2026-01-05", _lines(CARDS, "2026-01-05"))
    _run(kedro_project)
    assert credentials.read_text(encoding="utf-8") == text
    assert not (kedro_project / KEY_FILE).exists()
    url = f"sqlite:///{kedro_project / 'data/03_primary/mine.sqlite'}"
    assert _pseudonyms(url)["t1"] == _hmac(bytes.fromhex(key_hex), "CARD-4111-0001")


def test_prod_without_the_key_refuses_the_run_at_its_start_with_its_code(
    kedro_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _prod_env(kedro_project, monkeypatch, key=None)
    _land(kedro_project, "2026-01-05", _lines(CARDS, "2026-01-05"))
    with pytest.raises(RunRefusedError) as caught:
        _run(kedro_project, pipeline="medallion", env="prod", params={})
    assert caught.value.code == "card_pseudonym_key_missing"
    assert caught.value.exit_code == 2
    assert caught.value.format_message().startswith("[card_pseudonym_key_missing] No card pseudonym key is set.")
    assert "STREAMFLOW_CARD_PSEUDONYM_KEY" in caught.value.format_message()
    assert not (kedro_project / "data/02_intermediate/bronze_transactions.parquet").exists()  # before bronze
    assert not list((kedro_project / "conf").rglob("credentials_card_pseudonym*"))  # never generated in prod


def test_prod_cli_without_the_key_prints_one_coded_line_and_no_traceback(kedro_project: Path) -> None:
    environment = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "STREAMFLOW_GOLD_DB_URL": f"sqlite:///{kedro_project / 'data/03_primary/gold_prod.sqlite'}",
    }
    environment.pop("STREAMFLOW_CARD_PSEUDONYM_KEY", None)
    kedro = Path(sys.executable).with_name("kedro")
    done = subprocess.run(
        [str(kedro), "run", "--env", "prod", "--pipelines", "gold"],
        cwd=kedro_project,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 2
    assert "Error: [card_pseudonym_key_missing] No card pseudonym key is set." in done.stderr
    assert "STREAMFLOW_CARD_PSEUDONYM_KEY" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_prod_pipelines_without_gold_do_not_need_the_key(kedro_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _prod_env(kedro_project, monkeypatch, key=None)
    _land(kedro_project, "2026-01-05", _lines(CARDS, "2026-01-05"))
    _run(kedro_project, pipeline="bronze", env="prod", params={})
    assert (kedro_project / "data/02_intermediate/bronze_transactions.parquet").exists()


def test_prod_refuses_a_short_key_without_showing_it(kedro_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _prod_env(kedro_project, monkeypatch, key="c0ffee" * 4)
    with pytest.raises(RunRefusedError) as caught:
        _run(kedro_project, pipeline="gold", env="prod", params={})
    assert caught.value.code == "card_pseudonym_key_short"
    assert "c0ffee" not in caught.value.format_message()


@pytest.mark.kafka
@pytest.mark.usefixtures("production_stream_topics")  # production reads the stream's alerts from their topic
def test_prod_uses_the_key_from_its_environment_variable(kedro_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_hex = secrets.token_hex(32)
    url = _prod_env(kedro_project, monkeypatch, key=key_hex)
    _land(kedro_project, "2026-01-05", _lines(CARDS, "2026-01-05"))
    for pipeline in ("bronze", "silver", "gold"):
        _run(kedro_project, pipeline=pipeline, env="prod", params={})
    assert _pseudonyms(url) == {tx: _hmac(bytes.fromhex(key_hex), card) for tx, card in CARDS.items()}
    assert not (kedro_project / KEY_FILE).exists()


def _make_legacy(url: str, cards: dict[str, str]) -> None:
    """Rewrite fact_transactions as it was before pseudonyms: the clear card_id, no card_pseudonym."""
    schema = FactTransactions.to_schema().rename_columns({"card_pseudonym": "card_id"})
    legacy = table_from_schema("fact_transactions", schema, primary_key=["transaction_id"], indexes=[["event_date"]])
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        facts = pd.read_sql_table("fact_transactions", connection)
        rows = facts.drop(columns="card_pseudonym").assign(card_id=facts["transaction_id"].map(cards))
        connection.exec_driver_sql("DROP TABLE fact_transactions")
        legacy.create(connection)
        connection.execute(legacy.insert(), rows.to_dict("records"))
    engine.dispose()


def test_a_fact_table_with_clear_card_ids_is_refused_until_migrated_with_the_run_key(kedro_project: Path) -> None:
    url = _sqlite_url(kedro_project)
    _land(kedro_project, "2026-01-05", _lines(CARDS, "2026-01-05"))
    _run(kedro_project)
    _make_legacy(url, CARDS)

    with pytest.raises(RunRefusedError) as caught:
        _run(kedro_project)
    assert caught.value.code == "gold_card_id_in_clear"
    assert "python -m streamflow.operations.card_pseudonym_migration" in caught.value.format_message()

    assert card_pseudonym_migration.main(["--project", str(kedro_project)]) == 0
    key = _local_key(kedro_project)
    facts = _tables(url)["fact_transactions"]
    assert "card_id" not in facts.columns
    assert _pseudonyms(url) == {tx: _hmac(key, card) for tx, card in CARDS.items()}
    raw = (kedro_project / "data/03_primary/gold.sqlite").read_bytes()
    for card in set(CARDS.values()):
        assert card.encode() not in raw  # dropped and vacuumed out of the file, not only hidden

    _land(kedro_project, "2026-01-06", _lines({"t4": "CARD-5500-0002"}, "2026-01-06"))
    _run(kedro_project)
    assert _pseudonyms(url)["t4"] == _hmac(key, "CARD-5500-0002")
    assert card_pseudonym_migration.main(["--project", str(kedro_project)]) == 0  # nothing left to do
