import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from streamflow.operations.dlq import DeadLetterSpikeError
from tests.factories import payload

LENIENT_QUALITY = {"quality": {"checks": {"quarantine_rate": {"max": 0.5, "blocking": True}}}}
GOLD_URL = "sqlite:///data/03_primary/gold.sqlite"
LANDING = Path("data/01_raw/transactions")
FIXED = Path("data/01_raw/dlq_fixed")


def _line(tx: str, when: str = "2026-01-05T09:15:00Z", **fields: Any) -> str:
    return json.dumps(payload(transaction_id=tx, timestamp=when, **fields))


def _run(project: Path, pipeline: str, params: dict[str, Any] | None = None, nodes: list[str] | None = None) -> None:
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params={**LENIENT_QUALITY, **(params or {})}) as session:
        session.run(pipeline_names=[pipeline], node_names=nodes)


def _land_batch(project: Path) -> None:
    (project / LANDING).mkdir(parents=True, exist_ok=True)
    lines = [_line("t1"), _line("t2", customer_id="B"), '{"transaction_id": "t9", "amount": ', _line("t3")]
    (project / LANDING / "2026-01-05.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _run(project, "medallion")


def _write_stream(project: Path, folder: str, records: list[dict[str, Any]]) -> None:
    bucket = project / "data/07_model_output/stream" / folder / "2026-01-05--09"
    bucket.mkdir(parents=True, exist_ok=True)
    (bucket / f"{folder}-0-0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _dead_letter(received_at: str, code: str = "invalid_json") -> dict[str, Any]:
    return {
        "error_code": code,
        "error_field": "$",
        "error_message": "not JSON",
        "source": "data/01_raw/transactions",
        "received_at": received_at,
        "job_version": "0.1.0",
        "model_version": "rules-only",
        "payload": "{",
        "payload_size": 1,
        "payload_truncated": False,
    }


def _report(project: Path, name: str = "dlq_report") -> dict[str, Any]:
    return json.loads((project / f"data/08_reporting/{name}.json").read_text())


def _fact_ids() -> list[str]:
    engine = sa.create_engine(GOLD_URL)
    with engine.connect() as connection:
        ids = pd.read_sql("SELECT transaction_id FROM fact_transactions ORDER BY 1", connection)
    engine.dispose()
    return ids["transaction_id"].tolist()


def test_without_stream_output_only_the_quarantine_counts(kedro_project: Path) -> None:
    _land_batch(kedro_project)
    _run(kedro_project, "dlq_monitor")
    report = _report(kedro_project)
    assert report["by_origin"]["stream"] == {"dead_letters": 0, "records": 0, "rate": None}
    assert report["by_origin"]["batch"] == {"dead_letters": 1, "records": 4, "rate": 0.25}
    assert report["by_source"] == [
        {"origin": "batch", "source": "2026-01-05.jsonl", "error_code": "invalid_json", "dead_letters": 1}
    ]
    assert report["verdict"] == "ok"  # one dead letter is under min_dead_letters


def test_stream_dead_letters_in_the_window_are_counted_against_its_traffic(kedro_project: Path) -> None:
    _land_batch(kedro_project)
    recent = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=1)).isoformat()
    stale = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=30)).isoformat()
    _write_stream(kedro_project, "dlq", [_dead_letter(recent), _dead_letter(recent, "bad_type"), _dead_letter(stale)])
    _write_stream(kedro_project, "scored", [{"transaction_id": f"s{i}", "scored_at": recent} for i in range(98)])
    _run(kedro_project, "dlq_monitor")
    report = _report(kedro_project)
    assert report["by_origin"]["stream"] == {"dead_letters": 2, "records": 100, "rate": 0.02}
    assert report["by_error_code"] == {"bad_type": 1, "invalid_json": 2}


def test_a_spike_fails_the_run_after_the_report_is_saved(kedro_project: Path) -> None:
    _land_batch(kedro_project)
    strict = {"dlq_monitor": {"monitor": {"min_dead_letters": 1, "max_rate": 0.1}}}
    with pytest.raises(DeadLetterSpikeError, match=r"\[dlq_rate_spike\] dead-letter rate 0\.2500 > max_rate 0\.1000"):
        _run(kedro_project, "dlq_monitor", strict)
    assert _report(kedro_project)["verdict"] == "spike"


def test_replayed_fixes_reach_gold_once_however_often_they_are_replayed(kedro_project: Path) -> None:
    _land_batch(kedro_project)
    assert _fact_ids() == ["t1", "t2", "t3"]
    (kedro_project / FIXED).mkdir(parents=True)
    fixes = [_line("t9"), _line("t1", amount=999.0), '{"transaction_id": "t10"}']  # fixed, already landed, still bad
    (kedro_project / FIXED / "ticket-42.jsonl").write_text("\n".join(fixes) + "\n", encoding="utf-8")
    for _ in range(2):
        _run(kedro_project, "dlq_monitor", nodes=["replay_fixed_dead_letters_node"])
        _run(kedro_project, "medallion")
    replays = sorted(path.name for path in (kedro_project / LANDING).glob("replay-*.jsonl"))
    assert len(replays) == 1
    assert _fact_ids() == ["t1", "t2", "t3", "t9"]
    report = _report(kedro_project, "dlq_replay_report")
    assert (report["accepted_lines"], report["rejected_lines"]) == (2, 1)
    silver = _report(kedro_project, "silver_report")
    assert (silver["silver_rows"], silver["duplicate_rows"]) == (4, 1)  # the resent t1 is a duplicate
    engine = sa.create_engine(GOLD_URL)
    with engine.connect() as connection:
        amount = connection.exec_driver_sql("SELECT amount FROM fact_transactions WHERE transaction_id = 't1'")
        assert amount.scalar_one() == pytest.approx(42.5)  # the original arrival wins
    engine.dispose()
