"""One run of the job from topic to topic on the session's broker, shared by the tests that read its outputs."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from flink_app.config import StreamConfig
from flink_app.kafka_topics import client, produce_lines, read_outputs

from streamflow.core import ContractConfig
from streamflow.core.forest import ModelBundle
from streamflow.datasets.kafka_topic import TopicRecord, read_committed
from streamflow.devtools.stream_benchmark import synthetic_bundle
from tests.conftest import REPO_ROOT
from tests.kafka.runs import RUN_TIMEOUT_S, generated_lines, kafka_conf, score_command

NOT_UTF8 = b'{"transaction_id": "t-latin1", "customer_id": "C\xe9"}'  # a latin-1 byte: not UTF-8
EMPTY = b""
HUGE = b'{"transaction_id": "t-huge", "note": "' + b"x" * (ContractConfig().max_payload_bytes + 1) + b'"}'
HOSTILE = {"not_utf8": NOT_UTF8, "empty": EMPTY, "huge": HUGE}


@dataclass(frozen=True)
class TopicRun:
    """A finished run: its config, inputs as produced and as stored, and what it committed."""

    bootstrap: str
    conf: Path
    config: StreamConfig
    lines: list[str]
    bundle: ModelBundle
    inputs: dict[tuple[int, int], TopicRecord]  # (partition, offset) -> the input record
    outputs: dict[str, list[TopicRecord]]
    stdout: str


@pytest.fixture(scope="session")
def topic_run(kafka_broker: str, tmp_path_factory: pytest.TempPathFactory) -> TopicRun:
    """Generated events and hostile records (not UTF-8, empty, a tombstone, too large) through the job, to its end."""
    from confluent_kafka import Producer

    base = tmp_path_factory.mktemp("topic-run")
    conf, config = kafka_conf(base, kafka_broker)
    topics = config.job.kafka.topics
    lines = generated_lines(3_000)
    bundle, _ = synthetic_bundle(
        base / "bundle", model_version="kafka-model", n_trees=30, n_rows=800, alert_threshold=0.3
    )
    produce_lines(kafka_broker, topics["transactions"], [line.encode("utf-8") for line in lines])
    produce_lines(kafka_broker, topics["transactions"], HOSTILE.values())
    tombstone = Producer(client(kafka_broker))
    tombstone.produce(topics["transactions"], value=None, key=b"tombstone")
    assert tombstone.flush(10) == 0
    inputs = {(r.partition, r.offset): r for r in read_committed(client(kafka_broker), topics["transactions"])}
    command = score_command(conf, base / "state", "--until-end", "--model", str(base / "bundle"))
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    outputs = read_outputs(kafka_broker, config.job.kafka, {})
    return TopicRun(kafka_broker, conf, config, lines, bundle, inputs, outputs, result.stdout)
