"""The job's topics from a Kafka client (confluent-kafka): create them, produce landed events, read a run back.

For ``make kafka-demo``, the benchmark and the tests, against a broker without security (the
local one, ``flink_app.kafka_broker``). Not used by the job itself: Flink's Kafka connector reads
and writes its topics. A run is read back with a ``read_committed`` reader
(``streamflow.datasets.kafka_topic.read_committed``), so only what the job's transactions
committed counts.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from flink_app.config import KafkaSettings
from flink_app.summary import LATE_MARK, RunSummary
from streamflow.core import routing_key
from streamflow.datasets.kafka_topic import TopicRecord, end_offsets, read_committed, watermark_offsets

OUTPUT_TOPICS = ("scored", "alerts", "dead_letters")
PRODUCE_BATCH = 10_000


def client(bootstrap_servers: str) -> dict[str, Any]:
    """Librdkafka settings for a broker without security (the local one)."""
    return {"bootstrap.servers": bootstrap_servers}


def create_topics(bootstrap_servers: str, names: Iterable[str], partitions: int, *, timeout_s: float = 30.0) -> None:
    """Create the topics (one replica each); those that exist already are left as they are."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient(client(bootstrap_servers))
    wanted = [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in dict.fromkeys(names)]
    for name, future in admin.create_topics(wanted, operation_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"cannot create topic {name!r}: {error}") from error


def produce_lines(
    bootstrap_servers: str,
    topic: str,
    lines: Iterable[bytes],
    *,
    rate_per_s: float | None = None,
    linger_ms: int = 20,
) -> int:
    """Produce landed lines, each as one record keyed by its ``customer_id`` (``routing_key``); how many.

    The key keeps each customer's events in one partition, in order, as the production topic
    must (k8s README). The records' timestamps are their production times. With ``rate_per_s``,
    records are paced to that rate (the latency benchmark); otherwise sent as fast as the client goes.
    """
    from confluent_kafka import Producer

    producer = Producer(
        {**client(bootstrap_servers), "linger.ms": linger_ms, "enable.idempotence": True, "compression.type": "lz4"}
    )
    started = time.perf_counter()
    count = 0
    for line in lines:
        while True:
            try:
                producer.produce(topic, value=line, key=routing_key(line).encode("utf-8", "surrogatepass"))
                break
            except BufferError:  # the client's queue is full: let it send
                producer.poll(0.05)
        count += 1
        if count % PRODUCE_BATCH == 0:
            producer.poll(0)
        if rate_per_s is not None:
            ahead = count / rate_per_s - (time.perf_counter() - started)
            if ahead > 0.001:
                producer.flush(ahead) if ahead > 0.05 else time.sleep(ahead)
    remaining = producer.flush(60)
    if remaining:
        raise RuntimeError(f"{remaining} records to {topic!r} were not acknowledged within 60 s")
    return count


def committed_offsets(bootstrap_servers: str, topic: str, group_id: str) -> dict[int, int]:
    """The group's committed offset per partition of ``topic`` (partitions without one are left out)."""
    from confluent_kafka import Consumer, TopicPartition

    ends = end_offsets(client(bootstrap_servers), topic)
    consumer = Consumer({**client(bootstrap_servers), "group.id": group_id, "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(topic, partition) for partition in ends], timeout=10)
    finally:
        consumer.close()
    return {entry.partition: entry.offset for entry in found if entry.offset >= 0}


@dataclass(frozen=True)
class TopicPositions:
    """Where the job's input starts for its group and where every topic ends, taken before a run."""

    input_start: dict[int, int]
    input_end: dict[int, int]
    output_end: dict[str, dict[int, int]]

    @property
    def events_in(self) -> int:
        """Records the run will read: from the group's position to the input's end."""
        return sum(end - self.input_start.get(partition, 0) for partition, end in self.input_end.items())


def positions_before_run(bootstrap_servers: str, kafka: KafkaSettings) -> TopicPositions:
    """The input's range for the job's group (committed offsets, else the start) and the outputs' ends."""
    topics = kafka.topics
    servers = client(bootstrap_servers)
    low = _low_offsets(bootstrap_servers, topics["transactions"])
    committed = committed_offsets(bootstrap_servers, topics["transactions"], kafka.group_id)
    return TopicPositions(
        input_start={partition: committed.get(partition, offset) for partition, offset in low.items()},
        input_end=end_offsets(servers, topics["transactions"]),
        output_end={name: end_offsets(servers, topics[name]) for name in OUTPUT_TOPICS},
    )


def _low_offsets(bootstrap_servers: str, topic: str) -> dict[int, int]:
    return {partition: low for partition, (low, _) in watermark_offsets(client(bootstrap_servers), topic).items()}


def read_outputs(
    bootstrap_servers: str, kafka: KafkaSettings, since: Mapping[str, Mapping[int, int]]
) -> dict[str, list[TopicRecord]]:
    """The committed records of the three output topics after ``since`` (by output name)."""
    return {
        name: list(read_committed(client(bootstrap_servers), kafka.topics[name], since.get(name)))
        for name in OUTPUT_TOPICS
    }


def summarize_run(
    positions: TopicPositions,
    outputs: Mapping[str, list[TopicRecord]],
    *,
    seconds: float,
    model_version: str,
) -> RunSummary:
    """The stream summary of a run from Kafka to Kafka: its input range against what it committed."""
    scored = outputs["scored"]
    codes: Counter[str] = Counter(orjson.loads(record.value)["error_code"] for record in outputs["dead_letters"])
    return RunSummary(
        events_in=positions.events_in,
        scored=len(scored),
        late=sum(LATE_MARK in record.value for record in scored),
        alerts=len(outputs["alerts"]),
        dead_letters=codes,
        seconds=seconds,
        model_version=model_version,
    )
