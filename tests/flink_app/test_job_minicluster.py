"""The PyFlink job end to end on a real local MiniCluster (no mock of Flink)."""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flink_app.config import load_config

from streamflow.core import FEATURE_NAMES, ContractConfig, EventError, parse_event
from streamflow.devtools.stream_benchmark import synthetic_bundle
from streamflow.generator import GeneratorConfig, generate_stream
from streamflow.medallion.silver import deduplicate, parse_payloads
from streamflow.modeling.features import replay_features
from tests.conftest import REPO_ROOT
from tests.factories import core_decisions, parses, sink_records

RULES = load_config().rules  # what the job reads from conf/base
LATE_CUSTOMER = "C-OUT-OF-ORDER"


def out_of_order_lines(lines: list[str]) -> list[str]:
    """One customer's events after the generated stream: two new ones, one an hour old, one repeat.

    The hour-old one is older than the customer's newest by more than 60 s: scored at once, ``late``.
    """
    events = [parse_event(line) for line in lines if parses(line)]
    newest = max(event.event_time_ms for event in events)
    template = json.loads(next(line for line in lines if parses(line)))

    def line(transaction_id: str, offset: timedelta) -> str:
        moment = datetime.fromtimestamp(newest / 1000, UTC) + offset
        record = {**template, "customer_id": LATE_CUSTOMER, "transaction_id": transaction_id}
        return json.dumps({**record, "timestamp": moment.isoformat()})

    first = line("T-OOO-1", timedelta(minutes=1))
    return [first, line("T-OOO-2", timedelta(minutes=2)), line("T-OOO-3", timedelta(hours=-1)), first]


def write_generated_thirds(folder: Path) -> list[str]:
    """A generated stream with malformed lines and ``out_of_order_lines``, in three files of ``folder``; its lines.

    Each file is later than the one before: read out of name order, customers' events would
    arrive shuffled (flagged late, features unlike the batch replay).
    """
    stream = generate_stream(
        GeneratorConfig.from_dict({"n_events": 3_000, "days": 2, "n_stores": 60, "malformed_rate": 0.02}, ["S00007"]),
        ContractConfig(),
    )
    lines = [line for text in stream.partitions.values() for line in text.splitlines()]
    lines += out_of_order_lines(lines)
    folder.mkdir()
    thirds = [lines[: len(lines) // 3], lines[len(lines) // 3 : 2 * len(lines) // 3], lines[2 * len(lines) // 3 :]]
    for index, part in enumerate(thirds):
        (folder / f"events-{index}.jsonl").write_text("\n".join(part) + "\n", encoding="utf-8")
    return lines


def outputs_of(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """The scored records, alerts and dead letters the job committed under ``folder``."""
    return {
        name: sink_records(folder / sink) for name, sink in (("scored", "scored"), ("alerts", "alerts"), ("dlq", "dlq"))
    }


@pytest.fixture(scope="module")
def scored_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("stream")
    lines = write_generated_thirds(base / "in")
    bundle, _ = synthetic_bundle(
        base / "bundle", model_version="test-model", n_trees=30, n_rows=800, alert_threshold=0.3, champion_rounds=40
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flink_app",
            "score",
            "--input",
            str(base / "in"),
            "--output",
            str(base / "out"),
            "--model",
            str(base / "bundle"),
            "--checkpoint-dir",
            str(base / "checkpoints"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    return {"lines": lines, "bundle": bundle, "stdout": result.stdout, **outputs_of(base / "out")}


def test_every_event_is_scored_or_dead_lettered(scored_run: dict) -> None:  # type: ignore[type-arg]
    assert len(scored_run["lines"]) == len(scored_run["scored"]) + len(scored_run["dlq"])
    assert "Stream summary" in scored_run["stdout"]
    assert "every event scored or dead-lettered" in scored_run["stdout"]
    assert "(1 late)" in scored_run["stdout"]  # T-OOO-3


def expected_decisions(lines: list[str], bundle: object) -> tuple[list[dict], list[str], list[str]]:  # type: ignore[type-arg]
    """What the core decides for the lines, replayed as the job orders them: arrival order.

    Parse (rejects are dead letters), drop a customer's repeated transaction ids (dead
    letters), then score each customer's events in the order they arrive.
    """
    events, dead_codes, seen = [], [], set()
    for line in lines:
        try:
            event = parse_event(line)
        except EventError as error:
            dead_codes.append(error.code)
            continue
        if (event.customer_id, event.transaction_id) in seen:
            dead_codes.append("duplicate_transaction_id")
            continue
        seen.add((event.customer_id, event.transaction_id))
        events.append(event)
    decisions = core_decisions(events, RULES, bundle, rules_only_threshold=0.5)  # type: ignore[arg-type]
    scored = [record for record, _ in decisions]
    alerts = [record["transaction_id"] for record, alert in decisions if alert is not None]
    return scored, alerts, dead_codes


def test_dead_letters_carry_the_parser_and_duplicate_codes(scored_run: dict) -> None:  # type: ignore[type-arg]
    _, _, expected_codes = expected_decisions(scored_run["lines"], scored_run["bundle"])
    assert "duplicate_transaction_id" in expected_codes
    assert sorted(record["error_code"] for record in scored_run["dlq"]) == sorted(expected_codes)
    assert {"source", "received_at", "job_version", "model_version", "payload_size", "payload_truncated"} <= set(
        scored_run["dlq"][0]
    )


def test_stream_decisions_equal_the_core_in_arrival_order(scored_run: dict) -> None:  # type: ignore[type-arg]
    expected_scored, expected_alerts, _ = expected_decisions(scored_run["lines"], scored_run["bundle"])
    got = {record["transaction_id"]: record for record in scored_run["scored"]}
    assert len(got) == len(scored_run["scored"]) == len(expected_scored)
    for expected in expected_scored:
        record = got[expected["transaction_id"]]
        assert record["features"] == expected["features"]
        for score in ("ml_score", "final_score", "challenger_score", "challenger_alert"):  # the champion decides
            assert record[score] == expected[score], (score, record["transaction_id"])
        assert record["fired_rules"] == expected["fired_rules"]
        assert record["late"] is (record["transaction_id"] == "T-OOO-3")
    assert sorted(alert["transaction_id"] for alert in scored_run["alerts"]) == sorted(expected_alerts)
    champion = scored_run["bundle"].manifest.champion
    assert all(alert["model_version"] == champion.model_version for alert in scored_run["alerts"])
    assert all(alert["challenger_version"] == "test-model" for alert in scored_run["alerts"])
    # the champion alerts on its own score: an alert's reasons are its fired rules, if any, and its top features
    assert all(len(alert["reasons"]) == len(alert["fired_rules"]) for alert in scored_run["alerts"])
    assert all(len(alert["top_features"]) == 3 for alert in scored_run["alerts"])


def test_stream_features_equal_the_kedro_features_bit_for_bit(scored_run: dict) -> None:  # type: ignore[type-arg]
    """Batch/stream parity: the features pipeline's replay of silver gives the stream's vectors.

    For every customer whose events arrive in event-time order (all generated ones); the
    batch replays in event-time order, the stream scores in arrival order.
    """
    payloads = [line.encode() for line in scored_run["lines"]]
    parsed, positions, _, _ = parse_payloads(payloads, ContractConfig())
    silver, _ = deduplicate(parsed.assign(source_file="events.jsonl", line_number=[p + 1 for p in positions]))
    batch = replay_features(silver, RULES).set_index("transaction_id")
    batch = batch[batch["customer_id"] != LATE_CUSTOMER]
    stream = {
        record["transaction_id"]: record["features"]
        for record in scored_run["scored"]
        if record["customer_id"] != LATE_CUSTOMER
    }
    assert set(stream) == set(batch.index)
    for transaction_id, features in stream.items():
        assert [features[name] for name in FEATURE_NAMES] == batch.loc[transaction_id, list(FEATURE_NAMES)].tolist()
