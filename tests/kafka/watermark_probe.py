"""``python -m tests.kafka.watermark_probe``: a small Flink job's watermarks over a Kafka topic with an idle partition.

A fresh two-partition topic gets ``--events`` events in partition 0 only (Kafka record timestamps 1 s
apart, one every ``--gap-s``); the job's Python function writes ``<event time>,<watermark>`` for each
event it sees to ``--out``. ``--idleness-ms`` adds ``with_idleness`` to the source's strategy. Run in a
child process by ``tests/kafka/test_watermarks.py``, so its Flink JVM ends with it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from flink_app.config import connector_path, load_config
from flink_app.kafka_topics import client, create_topics
from pyflink.common import Configuration, Duration, Types, WatermarkStrategy
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import ProcessFunction, StreamExecutionEnvironment

FIRST_EVENT_MS = 1_700_000_000_000


class RecordWatermark(ProcessFunction):  # type: ignore[misc]
    """Appends ``<event time>,<current watermark>`` to a file for each event."""

    def __init__(self, path: str) -> None:
        self._path = path

    def process_element(self, value: str, ctx: ProcessFunction.Context) -> Any:
        with open(self._path, "a", encoding="utf-8") as out:
            out.write(f"{ctx.timestamp()},{ctx.timer_service().current_watermark()}\n")
        yield from ()


def main(argv: list[str] | None = None) -> int:
    from confluent_kafka import Producer
    from pyflink.datastream.connectors.kafka import KafkaOffsetsInitializer, KafkaSource

    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--idleness-ms", type=int)
    parser.add_argument("--events", type=int, default=25)
    parser.add_argument("--gap-s", type=float, default=0.12)
    args = parser.parse_args(argv)
    topic = f"watermarks-{uuid.uuid4().hex[:8]}"
    create_topics(args.bootstrap, [topic], partitions=2)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # pemja
    flink = Configuration()
    flink.set_string("python.executable", sys.executable)
    flink.set_string("python.client.executable", sys.executable)
    flink.set_string("python.execution-mode", "thread")  # as the job runs
    flink.set_string("pipeline.auto-watermark-interval", "50 ms")
    env = StreamExecutionEnvironment.get_execution_environment(flink)
    env.set_parallelism(1)
    env.add_jars(Path(connector_path(load_config().job.kafka)).as_uri())
    source = (
        KafkaSource.builder()
        .set_bootstrap_servers(args.bootstrap)
        .set_topics(topic)
        .set_group_id(topic)
        .set_starting_offsets(KafkaOffsetsInitializer.earliest())
        .set_value_only_deserializer(SimpleStringSchema())
        .build()
    )
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(0))  # Kafka record timestamps
    if args.idleness_ms is not None:
        strategy = strategy.with_idleness(Duration.of_millis(args.idleness_ms))
    events = env.from_source(source, strategy, "events")
    events.process(RecordWatermark(str(args.out)), output_type=Types.STRING()).print()
    job = env.execute_async(topic)
    try:
        producer = Producer(client(args.bootstrap))
        for index in range(args.events):  # the first alone, until the job has read it: then one each gap
            producer.produce(topic, value=b"{}", partition=0, timestamp=FIRST_EVENT_MS + index * 1000)
            producer.flush(5)
            if not _seen(args.out, index + 1, timeout_s=120 if index == 0 else 0):
                time.sleep(args.gap_s)
        if not _seen(args.out, args.events, timeout_s=60):
            print(f"the job saw fewer than {args.events} events within 60 s", file=sys.stderr)
            return 1
    finally:
        job.cancel().result()
    return 0


def _seen(out: Path, count: int, *, timeout_s: float) -> bool:
    """Whether the job has written ``count`` lines to ``out`` (waiting up to ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if out.exists() and len(out.read_text(encoding="utf-8").splitlines()) >= count:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
