import json
import re
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io.core import DatasetError

from streamflow.medallion.quality import QualityGateError
from tests.factories import payload

GOLD_TABLES = (
    "fact_transactions",
    "dim_customer",
    "dim_store",
    "dim_product",
    "fact_fraud_alerts",
    "agg_hourly_sales",
    "agg_daily_fraud",
)
LENIENT_QUALITY = {"quality": {"checks": {"quarantine_rate": {"max": 0.5, "blocking": True}}}}


def _event(
    tx: str, customer: str, store: str, product: str, amount: float, currency: str, when: str, channel: str
) -> str:
    return json.dumps(
        payload(
            transaction_id=tx,
            customer_id=customer,
            store_id=store,
            product_id=product,
            amount=amount,
            currency=currency,
            timestamp=when,
            channel=channel,
        )
    )


DAY_1 = [
    _event("t1", "A", "S1", "P1", 10.0, "EUR", "2026-01-05T09:15:00Z", "pos"),
    _event("t2", "A", "S2", "P1", 30.0, "EUR", "2026-01-05T10:45:00+01:00", "online"),
    _event("t3", "B", "S1", "P2", 5.5, "EUR", "2026-01-05T22:30:00Z", "pos"),
    '{"transaction_id": "t9", "amount": ',
    _event("t1", "A", "S1", "P1", 10.0, "EUR", "2026-01-05T09:15:00Z", "pos"),
]
DAY_2 = [
    _event("t4", "B", "S1", "P2", 7.25, "USD", "2026-01-06T01:10:00Z", "mobile"),
    _event("t8", "B", "S1", "P2", -5.0, "USD", "2026-01-06T02:00:00Z", "pos"),
]
DAY_3 = [
    _event("t5", "A", "S2", "P1", 12.0, "EUR", "2026-01-07T08:00:00Z", "pos"),
    _event("t4", "B", "S1", "P2", 7.25, "USD", "2026-01-06T01:10:00Z", "mobile"),  # resent a day later
]


def _land(project: Path, day: str, lines: list[str]) -> None:
    folder = project / "data/01_raw/transactions"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{day}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _run(
    project: Path, pipeline: str = "medallion", params: dict[str, Any] | None = None, env: str | None = None
) -> None:
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=params or LENIENT_QUALITY, env=env) as session:
        session.run(pipeline_names=[pipeline])


def _tables(url: str) -> dict[str, pd.DataFrame]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        present = set(sa.inspect(connection).get_table_names())
        names = [name for name in (*GOLD_TABLES, "quality_check_runs") if name in present]
        tables = {name: pd.read_sql_table(name, connection) for name in names}
    engine.dispose()
    keys = {
        "fact_transactions": "transaction_id",
        "dim_customer": "customer_id",
        "dim_store": "store_id",
        "dim_product": "product_id",
        "agg_hourly_sales": "event_hour",
        "agg_daily_fraud": "event_date",
    }
    return {
        name: frame.sort_values([keys[name], *(["channel"] if name == "agg_hourly_sales" else [])]).reset_index(
            drop=True
        )
        if name in keys
        else frame
        for name, frame in tables.items()
    }


def _sqlite_url(project: Path) -> str:
    return f"sqlite:///{project / 'data/03_primary/gold.sqlite'}"


def _report(project: Path, name: str) -> dict[str, Any]:
    return json.loads((project / f"data/08_reporting/{name}.json").read_text())


def test_medallion_accounts_for_every_row_and_builds_the_expected_gold_tables(kedro_project: Path) -> None:
    _land(kedro_project, "2026-01-05", DAY_1)
    _land(kedro_project, "2026-01-06", DAY_2)
    _run(kedro_project)

    silver = _report(kedro_project, "silver_report")
    assert (silver["bronze_rows"], silver["silver_rows"], silver["quarantined_rows"], silver["duplicate_rows"]) == (
        7,
        4,
        2,
        1,
    )
    assert silver["quarantined_by_code"] == {"invalid_json": 1, "out_of_range": 1}

    gold = _tables(_sqlite_url(kedro_project))
    facts = gold["fact_transactions"]
    assert facts["transaction_id"].tolist() == ["t1", "t2", "t3", "t4"]
    assert facts["event_time"].astype(str).tolist()[1] == "2026-01-05 09:45:00"  # 10:45+01:00 in UTC
    assert facts["amount"].tolist() == [10.0, 30.0, 5.5, 7.25]

    assert gold["dim_customer"].astype(str).values.tolist() == [
        ["2026-01-05 09:15:00", "2026-01-05 09:45:00", "A"],
        ["2026-01-05 22:30:00", "2026-01-06 01:10:00", "B"],
    ]
    assert gold["dim_store"]["store_id"].tolist() == ["S1", "S2"]
    assert gold["dim_store"]["last_seen"].astype(str).tolist() == ["2026-01-06 01:10:00", "2026-01-05 09:45:00"]
    assert gold["dim_product"]["first_seen"].astype(str).tolist() == ["2026-01-05 09:15:00", "2026-01-05 22:30:00"]

    hourly = gold["agg_hourly_sales"]
    assert hourly[["event_hour", "currency", "channel", "transactions", "amount_sum"]].astype(str).values.tolist() == [
        ["2026-01-05 09:00:00", "EUR", "online", "1", "30.0"],
        ["2026-01-05 09:00:00", "EUR", "pos", "1", "10.0"],
        ["2026-01-05 22:00:00", "EUR", "pos", "1", "5.5"],
        ["2026-01-06 01:00:00", "USD", "mobile", "1", "7.25"],
    ]
    daily = gold["agg_daily_fraud"]
    assert daily[["transactions", "alerts", "alert_rate"]].values.tolist() == [[3, 0, 0.0], [1, 0, 0.0]]
    assert gold["fact_fraud_alerts"].empty
    assert len(gold["quality_check_runs"]) == 6

    quality = _report(kedro_project, "quality_report")
    assert quality["layers"]["fact_transactions_rows"] == 4
    assert quality["verdict"] in {"pass", "warn"}


def test_rerunning_on_the_same_input_gives_identical_tables(kedro_project: Path) -> None:
    _land(kedro_project, "2026-01-05", DAY_1)
    _land(kedro_project, "2026-01-06", DAY_2)
    _run(kedro_project)
    first = _tables(_sqlite_url(kedro_project))
    _run(kedro_project)
    second = _tables(_sqlite_url(kedro_project))
    for name in GOLD_TABLES:
        pd.testing.assert_frame_equal(first[name], second[name], obj=name)
    assert len(second["quality_check_runs"]) == 12  # one set of check results per run


def test_a_new_day_adds_to_gold_without_duplicating_rows(kedro_project: Path) -> None:
    _land(kedro_project, "2026-01-05", DAY_1)
    _land(kedro_project, "2026-01-06", DAY_2)
    _run(kedro_project)
    before = _tables(_sqlite_url(kedro_project))
    for old in (kedro_project / "data/01_raw/transactions").glob("*.jsonl"):
        old.unlink()  # retention pruned the landed files; gold keeps their rows
    _land(kedro_project, "2026-01-07", DAY_3)
    _run(kedro_project)
    after = _tables(_sqlite_url(kedro_project))

    assert after["fact_transactions"]["transaction_id"].tolist() == ["t1", "t2", "t3", "t4", "t5"]
    assert after["dim_customer"]["last_seen"].astype(str).tolist() == ["2026-01-07 08:00:00", "2026-01-06 01:10:00"]
    assert after["dim_customer"]["first_seen"].tolist() == before["dim_customer"]["first_seen"].tolist()
    assert after["agg_daily_fraud"]["event_date"].astype(str).tolist() == ["2026-01-05", "2026-01-06", "2026-01-07"]
    assert after["agg_daily_fraud"]["transactions"].tolist() == [3, 1, 1]  # the resent t4 is not counted twice


def test_blocking_quality_breach_fails_the_run_after_saving_the_report(kedro_project: Path) -> None:
    _land(kedro_project, "2026-01-05", DAY_1)
    strict = {"quality": {"checks": {"quarantine_rate": {"max": 0.01, "blocking": True}}}}
    with pytest.raises(QualityGateError, match=r"'quarantine_rate' measured 0\.2 against min None / max 0\.01"):
        _run(kedro_project, params=strict)
    assert _report(kedro_project, "quality_report")["verdict"] == "fail"


def test_generated_sample_matches_the_generator_manifest(kedro_project: Path) -> None:
    _run(kedro_project, pipeline="generate", params={"generate": {"n_events": 4_000, "days": 4, "n_stores": 60}})
    _run(kedro_project, pipeline="medallion")
    manifest = _report(kedro_project, "generation_manifest")
    silver = _report(kedro_project, "silver_report")
    expected = dict(manifest["expected_error_codes"])
    assert silver["duplicate_rows"] == expected.pop("duplicate_transaction_id")
    assert silver["quarantined_by_code"] == expected
    assert silver["silver_rows"] == manifest["valid_events"]
    assert silver["bronze_rows"] == manifest["total_lines"]
    assert _report(kedro_project, "gold_summary")["fact_transactions_rows"] == manifest["valid_events"]
    quality = _report(kedro_project, "quality_report")  # the demo is dated up to two days ago: fresh
    assert quality["verdict"] == "pass", quality["checks"]
    assert quality["freshness_measured_against"].startswith("the ingestion time ")


def test_history_is_measured_against_its_as_of_not_the_ingestion_time(kedro_project: Path) -> None:
    params = {"generate": {"n_events": 2_000, "days": 3, "n_stores": 40, "start_date": "2026-01-01"}}
    _run(kedro_project, pipeline="generate", params=params)
    _run(kedro_project, pipeline="medallion", params={"quality": {"as_of": "2026-01-05T00:00:00+00:00"}})
    quality = _report(kedro_project, "quality_report")
    freshness = next(check for check in quality["checks"] if check["name"] == "freshness_hours")
    assert freshness["passed"], freshness
    assert 0 < freshness["value"] < 48
    assert quality["freshness_measured_against"] == "quality.as_of 2026-01-05T00:00:00+00:00"


def test_bad_input_files_land_in_quarantine_without_crashing(kedro_project: Path) -> None:
    folder = kedro_project / "data/01_raw/transactions"
    folder.mkdir(parents=True)
    (folder / "empty.jsonl").write_bytes(b"")
    (folder / "latin1.jsonl").write_bytes('{"customer_id": "Jos\xe9"}\n'.encode("latin-1"))
    (folder / "huge.jsonl").write_text(json.dumps(payload(notes="z" * 10_000_000)) + "\n", encoding="utf-8")
    kinds = [
        ('{"a": ', "invalid_json"),
        (json.dumps(payload(amount="1")), "bad_type"),
        (json.dumps(payload(channel="telex")), "bad_value"),
        (json.dumps(payload(longitude=-200)), "out_of_range"),
        (json.dumps(payload(timestamp="noon")), "bad_timestamp"),
        (json.dumps({"schema_version": 1}), "missing_field"),
    ]
    (folder / "kinds.jsonl").write_text("\n".join(line for line, _ in kinds) + "\n", encoding="utf-8")
    bootstrap_project(kedro_project)
    with KedroSession.create(project_path=kedro_project) as session:
        session.run(pipeline_names=["bronze", "silver"])
    quarantine = pd.read_parquet(kedro_project / "data/03_primary/quarantine.parquet")
    by_file = quarantine.groupby("source_file")["error_code"].apply(list).to_dict()
    assert by_file["latin1.jsonl"] == ["bad_encoding"]
    assert by_file["huge.jsonl"] == ["payload_too_large"]
    assert by_file["kinds.jsonl"] == [code for _, code in kinds]
    report = _report(kedro_project, "silver_report")
    assert report["bronze_rows"] == 8 == report["quarantined_rows"]


def test_an_optional_input_read_as_empty_is_named_in_the_run_summary(
    kedro_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _land(kedro_project, "2026-01-05", DAY_1)
    _run(kedro_project)  # the stream has not run here: no alerts yet, which is allowed locally
    output = capsys.readouterr().out
    assert "Inputs read as empty" in output
    assert "stream_alerts" in output


@pytest.mark.kafka
def test_in_production_the_streams_outputs_are_required_inputs(
    kedro_project: Path, kafka_broker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production reads the stream's outputs from their topics: a topic that is not there is an error naming it."""
    catalog_file = kedro_project / "conf/prod/catalog_stream.yml"  # a deployment whose stream made no topic yet
    suffix = uuid.uuid4().hex[:8]
    catalog_file.write_text(re.sub(r"topic: (\S+)", rf"topic: \1-{suffix}", catalog_file.read_text()))
    monkeypatch.setenv("STREAMFLOW_GOLD_DB_URL", f"sqlite:///{kedro_project / 'data/03_primary/gold_prod.sqlite'}")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker)
    bootstrap_project(kedro_project)
    with KedroSession.create(project_path=kedro_project, env="prod") as session:
        catalog = session.load_context().catalog
        for name, topic in (("stream_alerts", "fraud-alerts"), ("stream_dead_letters", "transactions-dlq")):
            with pytest.raises(DatasetError, match=rf"required_input_missing\] Kafka topic '{topic}-{suffix}'"):
                catalog.load(name)
        with pytest.raises(DatasetError, match=r"raw_transactions@files"):  # the landing zone too
            catalog.load("raw_transactions@files")
