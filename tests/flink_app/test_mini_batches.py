"""``ScoreMiniBatches`` without Flink: a batch at a time, the same records as ``ScoreEvents`` one line at a time."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flink_app.config import load_config
from flink_app.errors import ShardCountChangedError
from flink_app.job import ALERTS, DEAD_LETTERS, ScoreEvents, ScoreMiniBatches, map_state_ttl
from flink_app.keying import cut_batches

from streamflow.core import FEATURE_NAMES, ContractConfig, routing_key
from streamflow.devtools.stream_benchmark import InMemoryContext, synthetic_bundle
from streamflow.generator import GeneratorConfig, generate_stream
from tests.factories import BASE_TIME, payload
from tests.flink_app.test_keying import VALID
from tests.flink_app.test_two_entities import conf_with_features

CONFIG = load_config()


def outputs(records: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """Scored records (a batch's lines joined by newlines, or one string), alerts and dead letters, stamps left out."""
    found: dict[str, list[dict[str, Any]]] = {"scored": [], "alerts": [], "dlq": []}
    for record in records:
        if isinstance(record, tuple):
            tag, payload = record
            found["alerts" if tag is ALERTS else "dlq"].append(json.loads(payload))
        else:
            lines = [record] if isinstance(record, str) else record.split(b"\n")
            found["scored"] += [json.loads(line) for line in lines]
    for kind in found.values():
        for record in kind:
            record.pop("scored_at", None)
            record.pop("received_at", None)
    return found


def one_by_one(lines: list[str], model: Any) -> dict[str, list[dict[str, Any]]]:
    function, context = ScoreEvents(CONFIG, model, source="test"), InMemoryContext()
    function.open(context)
    records = []
    for line in lines:
        context.state.key = routing_key(line)
        records += list(function.process_element(line, context))
    return outputs(records)


def in_batches(batches: list[list[str]], model: Any) -> dict[str, list[dict[str, Any]]]:
    function, context = ScoreMiniBatches(CONFIG, model, source="test"), InMemoryContext()
    function.open(context)
    return outputs([record for batch in batches for record in function.process_element(batch, context)])


def by_transaction(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {record["transaction_id"]: record for record in records}


def test_batches_score_as_the_one_line_function_does(tmp_path: Any) -> None:
    stream = generate_stream(
        GeneratorConfig.from_dict({"n_events": 3_000, "days": 3, "malformed_rate": 0.03}, ["S00007"]),
        ContractConfig(),
    )
    lines = [line for name in sorted(stream.partitions) for line in stream.partitions[name].splitlines()]
    lines += lines[:40]  # repeats: dead-lettered as duplicates
    bundle, _ = synthetic_bundle(tmp_path / "bundle", model_version="m", n_trees=20, n_rows=500, alert_threshold=0.3)
    expected = one_by_one(lines, bundle)
    got = in_batches(list(cut_batches(lines, shards=5, size=16)), bundle)
    assert len(got["scored"]) == len(expected["scored"]) > 2_500
    assert by_transaction(got["scored"]) == by_transaction(expected["scored"])
    assert by_transaction(got["alerts"]) == by_transaction(expected["alerts"])
    assert len(got["alerts"]) > 0
    codes = sorted(record["error_code"] for record in got["dlq"])
    assert codes == sorted(record["error_code"] for record in expected["dlq"])
    assert codes.count("duplicate_transaction_id") >= 40


def test_a_customers_events_in_one_batch_see_each_other() -> None:
    first = json.dumps({**VALID, "transaction_id": "T-1"})
    second = json.dumps({**VALID, "transaction_id": "T-2", "timestamp": "2026-01-01T10:00:30+01:00"})
    got = in_batches([["C-1", first, "C-1", second, "C-1", first]], None)
    assert [record["features"]["velocity_count"] for record in got["scored"]] == [0.0, 1.0]
    assert [record["error_code"] for record in got["dlq"]] == ["duplicate_transaction_id"]


def test_a_line_batched_under_another_customer_id_is_dead_lettered() -> None:
    line = json.dumps({**VALID, "customer_id": "Cé-1"})  # has an escape: its key is checked
    function, context = ScoreMiniBatches(CONFIG, None, source="test"), InMemoryContext()
    function.open(context)
    (kind, record), *_ = function.process_element(["C-1", line], context)
    assert kind is DEAD_LETTERS
    assert json.loads(record)["error_code"] == "unroutable_event"
    (scored,) = function.process_element(["Cé-1", line], context)
    assert [json.loads(line)["customer_id"] for line in scored.split(b"\n")] == ["Cé-1"]


def test_a_shard_restored_under_another_shard_count_is_refused_not_misread() -> None:
    batch = ["C-1", json.dumps(VALID)]
    context = InMemoryContext()
    first = ScoreMiniBatches(CONFIG, None, source="test")
    first.open(context)
    assert len(list(first.process_element(batch, context))) == 1
    assert context.state.value() == CONFIG.job.mini_batch.shards  # the shard keeps its count
    other_count = replace(CONFIG.job.mini_batch, shards=CONFIG.job.mini_batch.shards // 2)
    restored = ScoreMiniBatches(replace(CONFIG, job=replace(CONFIG.job, mini_batch=other_count)), None, source="test")
    restored.open(context)
    with pytest.raises(ShardCountChangedError, match=r"was cut with stream\.mini_batch\.shards 128, not 64") as refused:
        list(restored.process_element(batch, context))
    assert refused.value.code == "state_shard_count_changed"


def test_expired_customers_are_cleaned_by_snapshots_and_compactions_not_on_every_access() -> None:
    cleanups = map_state_ttl(86_400_000).get_cleanup_strategies()
    assert cleanups.get_incremental_cleanup_strategy() is None  # it would scan whole shards' maps per access
    assert cleanups.in_full_snapshot()
    assert cleanups.get_rocksdb_compact_filter_cleanup_strategy() is not None


def test_a_far_future_event_is_refused_and_cannot_wipe_the_dedup_memory() -> None:
    """TF-1, then TF-2 dated years ahead, then TF-1 twice: TF-2 is dead-lettered, both replays are caught.

    Before, TF-2 moved the customer's clock years ahead and the dedup window forgot TF-1.
    """
    far_future = max(datetime(2030, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=1000))
    tf1 = json.dumps({**VALID, "transaction_id": "TF-1", "timestamp": "2026-01-01T10:00:00+00:00"})
    tf2 = json.dumps({**VALID, "transaction_id": "TF-2", "timestamp": far_future.isoformat()})
    key = VALID["customer_id"]
    for run in (
        one_by_one([tf1, tf2, tf1, tf1], None),
        in_batches([[key, tf1, key, tf2], [key, tf1], [key, tf1]], None),
    ):
        assert [record["transaction_id"] for record in run["scored"]] == ["TF-1"]
        codes = [record["error_code"] for record in run["dlq"]]
        assert codes == ["future_timestamp", "duplicate_transaction_id", "duplicate_transaction_id"]


def outcome_line(transaction: dict[str, Any], labelled_minutes: float) -> str:
    """A fraud outcome of ``transaction`` known ``labelled_minutes`` after ``BASE_TIME``, as ``--labels`` feeds it."""
    record = {
        "transaction_id": transaction["transaction_id"],
        "is_fraud": True,
        "labelled_at": (BASE_TIME + timedelta(minutes=labelled_minutes)).isoformat(),
        "source": "confirmed",
        "customer_id": transaction["customer_id"],
        "store_id": transaction["store_id"],
        "event_time": transaction["timestamp"],
    }
    return f"labels:x\n{json.dumps(record)}"


def event_at(customer: str, minutes: float) -> dict[str, Any]:
    """An event of ``customer`` ``minutes`` after ``BASE_TIME``."""
    timestamp = (BASE_TIME + timedelta(minutes=minutes)).isoformat()
    return payload(customer_id=customer, transaction_id=f"{customer}-{minutes}", timestamp=timestamp)


def test_an_outcome_folds_before_the_first_event_after_it_in_its_batch_or_a_later_one(tmp_path: Path) -> None:
    """An outcome waits in its customer's slot; one batched after an event later than it still counts for it."""
    config = load_config(conf_with_features(tmp_path / "conf", (*FEATURE_NAMES, "customer_fraud_known_30d")))
    function, context = ScoreMiniBatches(config, None, source="t", outcome_origins=("labels:",)), InMemoryContext()
    function.open(context)

    def known_fraud(batch: list[str]) -> list[float]:
        scored = outputs(list(function.process_element(batch, context)))["scored"]
        return [record["features"]["customer_fraud_known_30d"] for record in scored]

    first, later = event_at("C-1", 0), event_at("C-1", 60)
    assert known_fraud(["C-1", json.dumps(first)]) == [0.0]
    assert known_fraud(["C-1", outcome_line(first, 30)]) == []  # no event of C-1 in the batch: it waits
    assert known_fraud(["C-1", json.dumps(later)]) == [1.0]
    # Batched after C-2's event at minute 60, an outcome known at minute 30 counts for it, as in batch's replay.
    before, after = event_at("C-2", 0), event_at("C-2", 60)
    batch = ["C-2", json.dumps(before), "C-2", json.dumps(after), "C-2", outcome_line(before, 30)]
    assert known_fraud(batch) == [0.0, 1.0]


def test_one_line_at_a_time_an_outcome_folds_before_the_customers_next_event(tmp_path: Path) -> None:
    config = load_config(conf_with_features(tmp_path / "conf", (*FEATURE_NAMES, "customer_fraud_known_30d")))
    function, context = ScoreEvents(config, None, source="t", outcome_origins=("labels:",)), InMemoryContext()
    function.open(context)
    context.state.key = "C-1"
    first, later = event_at("C-1", 0), event_at("C-1", 60)
    known = []
    for line in (json.dumps(first), outcome_line(first, 30), json.dumps(later)):
        scored = outputs(list(function.process_element(line, context)))["scored"]
        known += [record["features"]["customer_fraud_known_30d"] for record in scored]
    assert known == [0.0, 1.0]
