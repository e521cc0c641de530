"""Exactly-once from topic to topic: kill the job (SIGKILL of its process group, after a checkpoint
committed output), restart it from the retained checkpoint, and a ``read_committed`` consumer finds
every expected record exactly once, with the decisions of an uninterrupted run; the killed run's
open transaction never becomes visible, and no process of either run is left."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from flink_app.config import KafkaSettings
from flink_app.kafka_topics import client, produce_lines, read_outputs

from streamflow.core.forest import ModelBundle
from streamflow.datasets.kafka_topic import end_offsets, read_committed
from streamflow.devtools.stream_benchmark import synthetic_bundle
from tests.conftest import REPO_ROOT
from tests.flink_app.test_job_minicluster import expected_decisions
from tests.flink_app.test_recovery import completed_checkpoints
from tests.kafka.runs import CHECKPOINT_INTERVAL_MS, RUN_TIMEOUT_S, generated_lines, kafka_conf, score_command

pytestmark = pytest.mark.kafka

N_EVENTS = 30_000


@dataclass(frozen=True)
class Recovered:
    lines: list[str]
    bundle: ModelBundle
    committed_before_kill: int  # the scored topic's end for read_committed readers (its last stable offset)
    written_before_kill: int  # its end for read_uncommitted readers (the high watermark)
    left_in_group: list[str]
    outputs: dict[str, list[dict[str, object]]]


def _process_group(pgid: int) -> list[str]:
    """Live processes still in process group ``pgid`` (``pid state name``; zombies, already dead, left out)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(f"{entry.name} {fields[0]} {name}")
    return found


def _end(bootstrap: str, topic: str, isolation: str) -> int:
    """The sum of the partitions' ends for readers of ``isolation`` (offsets, transaction markers included)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**client(bootstrap), "group.id": "count", "isolation.level": isolation})
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
            for partition in end_offsets(client(bootstrap), topic)
        )
    finally:
        consumer.close()


def _kill_group(job: subprocess.Popen[bytes]) -> list[str]:
    """SIGKILL the job's process group (the CLI and its JVM); the processes still alive in it 10 s later."""
    if job.poll() is None:
        os.killpg(job.pid, signal.SIGKILL)
    job.wait(timeout=60)
    deadline = time.monotonic() + 10
    while _process_group(job.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _process_group(job.pid)


def _start(command: list[str], logs: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FLINK_LOG_DIR": str(logs)}  # this run's own Flink log
    return subprocess.Popen(  # its own process group: the client and the JVM it starts
        command,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )


@pytest.fixture(scope="module")
def recovered(kafka_broker: str, tmp_path_factory: pytest.TempPathFactory) -> Recovered:
    base = tmp_path_factory.mktemp("exactly-once")
    conf, config = kafka_conf(base, kafka_broker)
    kafka = config.job.kafka
    topics = kafka.topics
    lines = generated_lines(N_EVENTS)
    bundle, _ = synthetic_bundle(base / "bundle", model_version="eo-model", n_trees=30, n_rows=800, alert_threshold=0.3)
    produce_lines(kafka_broker, topics["transactions"], [line.encode("utf-8") for line in lines])
    command = score_command(conf, base / "state", "--model", str(base / "bundle"))
    checkpoints = base / "state" / "checkpoints"
    job = _start([*command, "--until-end"], base / "logs-1")
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline and job.poll() is None:
            if completed_checkpoints(checkpoints) and _end(kafka_broker, topics["scored"], "read_committed") > 0:
                break
            time.sleep(0.1)
        assert job.poll() is None, "the job finished before it could be killed mid-stream"
    finally:
        left = _kill_group(job)
    committed = _end(kafka_broker, topics["scored"], "read_committed")
    written = _end(kafka_broker, topics["scored"], "read_uncommitted")
    # Restored without --until-end: a bounded Kafka source never finishes after a restore
    # (FLINK-31006; and a split that ends between checkpoints never commits its last offset to the
    # group). So the restored job runs until its committed outputs account for every input record,
    # and three checkpoints more (a duplicate committed late would show), then it is stopped.
    restarted = _start([*command, "--recover-from", str(completed_checkpoints(checkpoints)[-1])], base / "logs-2")
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while _outputs_count(kafka_broker, kafka) < len(lines):
            assert restarted.poll() is None, f"the restored job exited ({restarted.returncode}); see {base}/logs-2"
            assert time.monotonic() < deadline, "the restored job did not commit an output for every input"
            time.sleep(1)
        time.sleep(3 * CHECKPOINT_INTERVAL_MS / 1000)
    finally:
        left += _kill_group(restarted)
    outputs = {
        name: [orjson.loads(record.value) for record in values]
        for name, values in read_outputs(kafka_broker, kafka, {}).items()
    }
    return Recovered(lines, bundle, committed, written, left, outputs)


def _outputs_count(bootstrap: str, kafka: KafkaSettings) -> int:
    """Scored records and dead letters committed so far."""
    return sum(
        sum(1 for _ in read_committed(client(bootstrap), kafka.topics[name])) for name in ("scored", "dead_letters")
    )


def test_the_kill_left_no_process_behind(recovered: Recovered) -> None:
    assert recovered.left_in_group == []


def test_the_kill_left_an_open_transaction_that_never_became_visible(recovered: Recovered) -> None:
    assert 0 < recovered.committed_before_kill < N_EVENTS  # killed mid-stream, after a checkpoint committed
    # Records written after the last checkpoint sat in an open transaction: beyond the last stable
    # offset. Exactly once below means none of them was ever read as output.
    assert recovered.written_before_kill > recovered.committed_before_kill


def test_every_record_is_committed_exactly_once(recovered: Recovered) -> None:
    scored, dead = recovered.outputs["scored"], recovered.outputs["dead_letters"]
    ids = [record["transaction_id"] for record in scored]
    assert len(ids) == len(set(ids))
    assert len(scored) + len(dead) == len(recovered.lines)  # events in = scored + dead-lettered
    alert_ids = [record["transaction_id"] for record in recovered.outputs["alerts"]]
    assert len(alert_ids) == len(set(alert_ids))
    origins = [record["source"] for record in dead]
    assert len(origins) == len(set(origins))


def test_decisions_and_state_match_an_uninterrupted_run(recovered: Recovered) -> None:
    # Features come from the per-customer state: equal features for every event mean the state
    # restored from the checkpoint equals the uninterrupted one (a restart from empty state at the
    # group's committed offsets would have forgotten every customer seen before the kill).
    expected_scored, expected_alerts, expected_codes = expected_decisions(recovered.lines, recovered.bundle)
    got = {record["transaction_id"]: record for record in recovered.outputs["scored"]}
    for expected in expected_scored:
        record = got[expected["transaction_id"]]
        assert record["features"] == expected["features"]
        assert record["final_score"] == expected["final_score"]
    assert sorted(str(r["transaction_id"]) for r in recovered.outputs["alerts"]) == sorted(expected_alerts)
    assert sorted(str(r["error_code"]) for r in recovered.outputs["dead_letters"]) == sorted(expected_codes)
