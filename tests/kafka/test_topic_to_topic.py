"""The job from topic to topic on a real broker: every record scored or dead-lettered once, dead letters
that name their record's topic, partition and offset, malformed bytes coded as in batch, and the
decisions of the file path."""

from __future__ import annotations

import re

import orjson
import pytest
from flink_app.records import PAYLOAD_LIMIT_BYTES

from streamflow.core import EventError, parse_event
from tests.flink_app.test_job_minicluster import expected_decisions
from tests.kafka.conftest import HOSTILE, TopicRun

pytestmark = pytest.mark.kafka


def _json(run: TopicRun, name: str) -> list[dict[str, object]]:
    return [orjson.loads(record.value) for record in run.outputs[name]]


def _origin(run: TopicRun, dead_letter: dict[str, object]) -> tuple[int, int]:
    topic = run.config.job.kafka.topics["transactions"]
    found = re.fullmatch(rf"kafka:{re.escape(topic)}/(\d+)@(\d+)", str(dead_letter["source"]))
    assert found, dead_letter["source"]
    return int(found[1]), int(found[2])


def test_every_record_is_scored_or_dead_lettered_exactly_once(topic_run: TopicRun) -> None:
    scored, dead = _json(topic_run, "scored"), _json(topic_run, "dead_letters")
    assert len(scored) + len(dead) == len(topic_run.inputs) == len(topic_run.lines) + len(HOSTILE) + 1
    ids = [record["transaction_id"] for record in scored]
    assert len(ids) == len(set(ids))
    assert len({_origin(topic_run, record) for record in dead}) == len(dead)  # no record dead-lettered twice
    assert "kafka-model" in topic_run.stdout


def test_each_dead_letter_names_the_topic_partition_and_offset_of_its_record(topic_run: TopicRun) -> None:
    for dead_letter in _json(topic_run, "dead_letters"):
        record = topic_run.inputs[_origin(topic_run, dead_letter)]
        assert dead_letter["payload"] == record.value[:PAYLOAD_LIMIT_BYTES].decode("utf-8", "replace")
        assert dead_letter["payload_size"] == len(record.value)


def test_malformed_bytes_on_the_topic_get_the_codes_batch_gives_them(topic_run: TopicRun) -> None:
    by_origin = {_origin(topic_run, record): record for record in _json(topic_run, "dead_letters")}
    codes = {}
    for name, value in HOSTILE.items():
        (where,) = [where for where, record in topic_run.inputs.items() if record.value == value][:1]
        with pytest.raises(EventError) as batch:
            parse_event(value)
        assert by_origin[where]["error_code"] == batch.value.code
        codes[name] = batch.value.code
    assert codes == {"not_utf8": "bad_encoding", "empty": "invalid_json", "huge": "payload_too_large"}
    empty = [where for where, record in topic_run.inputs.items() if record.value == b""]
    assert len(empty) == 2  # the empty record and the tombstone (no value): both dead-lettered, neither lost
    assert {by_origin[where]["error_code"] for where in empty} == {"invalid_json"}


def test_decisions_are_those_of_the_file_path(topic_run: TopicRun) -> None:
    # Keyed by customer, each customer's events keep their order in one partition: the core's
    # replay in file order decides the same, event by event.
    expected_scored, expected_alerts, expected_codes = expected_decisions(topic_run.lines, topic_run.bundle)
    got = {record["transaction_id"]: record for record in _json(topic_run, "scored")}
    assert len(got) == len(expected_scored)
    for expected in expected_scored:
        record = got[expected["transaction_id"]]
        assert record["features"] == expected["features"]
        assert record["final_score"] == expected["final_score"]
    assert sorted(record["transaction_id"] for record in _json(topic_run, "alerts")) == sorted(expected_alerts)
    generated = [
        record["error_code"]
        for record in _json(topic_run, "dead_letters")
        if topic_run.inputs[_origin(topic_run, record)].value not in (*HOSTILE.values(), b"")
    ]
    assert sorted(generated) == sorted(expected_codes)
