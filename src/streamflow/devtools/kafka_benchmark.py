"""The stream benchmark's Kafka figures (``stream_benchmark``, variant ``kafka``): Kafka in, Kafka out, exactly-once.

Throughput: the same generated input as the file-to-file job and the bare keyed counter, produced
into a fresh events topic of the benchmark's own local broker (``flink_app.kafka_broker``, on the
RAM disk with the rest); the job reads it to its end (``--until-end``) and writes its three
topics through transactions committed at checkpoints. The rate is events / Flink's net job runtime,
as for the other variants.

Latency (event produced -> alert committed): the job runs without an end on fresh topics while the
events are produced at a fixed rate (the Kafka rate just measured: "at that rate"); a
``read_committed`` consumer notes when each alert becomes visible, and the latency is that time
minus the event's Kafka timestamp (the producer's clock, the same machine). It includes the wait
for the checkpoint that commits the alert's transaction (``stream.checkpoint.interval_ms``).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from flink_app.config import JobSettings, StreamConfig, load_config
from flink_app.job import Outputs, build_job, kafka_source, stream_environment
from flink_app.kafka_topics import client, create_topics, produce_lines

from streamflow.datasets.kafka_topic import end_offsets, read_committed

STREAM_BENCHMARK = "streamflow.devtools.stream_benchmark"  # its kafka-live variant is the latency figure's job
PARTITIONS = 6  # as the production topics (k8s/base/kafka/topics.yaml)
WARM_UP_TIMEOUT_S = 180.0
DRAIN_TIMEOUT_S = 120.0


def kafka_config(config: StreamConfig, bootstrap: str, suffix: str) -> StreamConfig:
    """``config`` in Kafka mode on ``bootstrap``, with topics, group and transactional ids of its own."""
    kafka = config.job.kafka
    topics = {name: f"{topic}-{suffix}" for name, topic in kafka.topics.items()}
    settings = replace(
        kafka,
        bootstrap_servers=bootstrap,
        topics=topics,
        group_id=f"{kafka.group_id}-{suffix}",
        transactional_id_prefix=f"{kafka.transactional_id_prefix}-{suffix}",
        partitions=PARTITIONS,
    )
    job: JobSettings = replace(config.job, io="kafka", kafka=settings)
    return replace(config, job=job)


def prepare_topics(bootstrap: str, lines: list[bytes] | None) -> str:
    """Fresh topics for one run (and the events produced into them, unless ``lines`` is None); their suffix."""
    suffix = uuid.uuid4().hex[:8]
    config = kafka_config(load_config(), bootstrap, suffix)
    create_topics(bootstrap, config.job.kafka.topics.values(), PARTITIONS)
    if lines is not None:
        produce_lines(bootstrap, config.job.kafka.topics["transactions"], lines)
    return suffix


def run_kafka(workdir: Path, output_dir: Path, bootstrap: str, suffix: str, *, until_end: bool) -> tuple[float, float]:
    """The scoring job from the run's events topic to its output topics; net runtime and steady time, seconds."""
    config = kafka_config(load_config(), bootstrap, suffix).with_checkpoint_dir(str(output_dir / "checkpoints"))
    env = stream_environment(config.job)
    source = kafka_source(env, config.job, until_end=until_end)
    topics = config.job.kafka.topics
    outputs = Outputs(topics["scored"], topics["alerts"], topics["dead_letters"])
    build_job(
        env,
        config,
        source=source,
        source_name=f"kafka:{topics['transactions']}",
        outputs=outputs,
        model=str(workdir / "bundle"),
    )
    result = env.execute("bench-kafka")
    net_seconds = float(result.get_net_runtime()) / 1000.0
    stamps = [orjson.loads(record.value)["scored_at"] for record in read_committed(client(bootstrap), topics["scored"])]
    first, last = (datetime.fromisoformat(stamp) for stamp in (min(stamps), max(stamps)))
    return net_seconds, (last - first).total_seconds()


@dataclass(frozen=True)
class Latency:
    """End-to-end latency of the alerts, produced -> committed, in milliseconds."""

    rate: float
    events: int
    alerts: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    checkpoint_interval_ms: int


class _AlertWatcher(threading.Thread):
    """A ``read_committed`` consumer of the alerts topic noting when each alert is first seen (ms)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self._servers, self._topic = bootstrap, topic
        self.seen: dict[str, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        from confluent_kafka import Consumer

        consumer = Consumer(
            {
                **client(self._servers),
                "group.id": f"latency-{self._topic}",
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 10,
            }
        )
        consumer.subscribe([self._topic])
        try:
            while not self.stop.is_set():
                for message in consumer.consume(1000, timeout=0.05):
                    value = message.value()
                    if message.error() is None and value:
                        now = time.time_ns() // 1_000_000
                        self.seen.setdefault(str(orjson.loads(value)["transaction_id"]), now)
        finally:
            consumer.close()


def measure_latency(workdir: Path, bootstrap: str, lines: list[bytes], rate: float, *, expected_alerts: int) -> Latency:
    """Produce ``lines`` at ``rate`` into a running job; each alert's produced -> committed time."""
    suffix = prepare_topics(bootstrap, None)
    config = kafka_config(load_config(), bootstrap, suffix)
    topics = config.job.kafka.topics
    command = [sys.executable, "-m", STREAM_BENCHMARK, "--variant", "kafka-live", "--workdir", str(workdir)]
    command += ["--bootstrap", bootstrap, "--suffix", suffix]
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    watcher = _AlertWatcher(bootstrap, topics["alerts"])
    try:
        produce_lines(bootstrap, topics["transactions"], lines[:1])  # the job is up once its output is committed
        deadline = time.monotonic() + WARM_UP_TIMEOUT_S
        while sum(end_offsets(client(bootstrap), topics["scored"]).values()) == 0:
            if job.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the live Kafka job did not start (exit {job.poll()})")
            time.sleep(0.5)
        watcher.start()
        produce_lines(bootstrap, topics["transactions"], lines[1:], rate_per_s=rate, linger_ms=5)
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while len(watcher.seen) < expected_alerts and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        watcher.stop.set()
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
        job.wait(timeout=60)
    produced = {
        str(orjson.loads(record.value)["transaction_id"]): record.timestamp_ms
        for record in read_committed(client(bootstrap), topics["transactions"])
        if _has_transaction_id(record.value)
    }
    latencies = sorted(seen - produced[tx] for tx, seen in watcher.seen.items() if tx in produced)
    if not latencies:
        raise RuntimeError("no alert was committed during the latency run")
    return Latency(
        rate=rate,
        events=len(lines),
        alerts=len(latencies),
        p50_ms=statistics.median(latencies),
        p99_ms=latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        max_ms=float(latencies[-1]),
        checkpoint_interval_ms=config.job.checkpoint.interval_ms,
    )


def committed_alerts(bootstrap: str, suffix: str) -> int:
    """The alerts a run on the topics of ``suffix`` committed."""
    topic = kafka_config(load_config(), bootstrap, suffix).job.kafka.topics["alerts"]
    return sum(1 for _ in read_committed(client(bootstrap), topic))


def _has_transaction_id(value: bytes) -> bool:
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return False
    return isinstance(document, dict) and "transaction_id" in document


def run_live(workdir: Path, output_dir: Path, bootstrap: str, suffix: str) -> Any:
    """The job without an end (the latency run); it runs until the benchmark kills its process group."""
    return run_kafka(workdir, output_dir, bootstrap, suffix, until_end=False)
