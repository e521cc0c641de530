"""``make kafka-demo``: the scoring job from topic to topic on a local Apache Kafka broker, start to stop.

1. starts a single-node KRaft broker on loopback (``flink_app.kafka_broker``);
2. creates the topics of ``stream.kafka.topics`` (``conf/kafka``, over ``conf/base``), and the outcomes topic;
3. produces the landed events (``--input``, read by the landing contract, each keyed by its
   ``customer_id``) and the landed outcomes (``--labels``: JSON lines as they are, CSV rows as JSON);
4. runs the job in Kafka mode to the end of the events topic (``python -m flink_app score --env kafka
   --until-end``), exactly-once, in a process of its own;
5. prints the stream summary, read back from the output topics with a ``read_committed`` reader;
6. prints a few alerts from the alerts topic;
7. stops the broker (by its PID), also when a step fails.

The demo's job does not read the outcomes topic (``stream.kafka.read_outcomes`` is off): its model
reads no outcome feature. Everything lives under ``--workdir`` (data/09_stream_state/kafka-demo), emptied at the
start: each demo starts from a new broker.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from flink_app.config import DEFAULT_CONF_DIR, PROJECT_ROOT, load_config
from flink_app.kafka_broker import LocalKafka
from flink_app.kafka_topics import (
    create_topics,
    positions_before_run,
    produce_lines,
    read_outputs,
    summarize_run,
)
from flink_app.summary import scan_input, scan_labels
from streamflow.core.landing import landed_lines

ENV = "kafka"
ALERT_FIELDS = ("transaction_id", "customer_id", "amount", "currency", "final_score", "reasons")


def landed_events(folder: Path) -> tuple[list[bytes], list[str]]:
    """The landed events' lines in file-name order, and the files the landing contract does not read."""
    stream_input = scan_input(folder, count=False)
    lines: list[bytes] = []
    for file in stream_input.files:
        name = file.name if file == folder else file.relative_to(folder).as_posix()
        lines += landed_lines(name, file.read_bytes())
    return lines, sorted(stream_input.rejected)


def landed_outcomes(folder: Path) -> Iterator[bytes]:
    """Each landed outcome as one JSON record, as the job reads them (``flink_app.summary.scan_labels``)."""
    if not folder.is_dir():
        return
    labels = scan_labels(folder)
    for name, error in labels.rejected.items():
        print(f"WARNING [{error.code}]: {name}: {error} (not produced)", file=sys.stderr)
    for lines in labels.files.values():
        yield from lines


def step(number: int, text: str) -> None:
    """Say which step runs."""
    print(f"[{number}/7] {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 when the job finished and every event was scored or dead-lettered."""
    parser = argparse.ArgumentParser(prog="python -m flink_app.kafka_demo", description=__doc__)
    parser.add_argument("--input", type=Path, default=Path("data/01_raw/transactions"), help="the landed events")
    parser.add_argument("--labels", type=Path, default=Path("data/01_raw/labels"), help="the landed outcomes")
    parser.add_argument("--model", default="latest", help="bundle folder, 'latest' or 'none' (as flink_app score)")
    parser.add_argument("--workdir", type=Path, default=Path("data/09_stream_state/kafka-demo"))
    parser.add_argument("--alerts", type=int, default=5, help="how many alerts to print")
    args = parser.parse_args(argv)
    workdir = (PROJECT_ROOT / args.workdir).resolve()
    events, not_read = landed_events(args.input)
    if not events:
        print(f"error [input_empty]: {args.input} holds no landed events; run `make run` first", file=sys.stderr)
        return 2
    shutil.rmtree(workdir, ignore_errors=True)
    step(1, f"starting a Kafka broker (KRaft, one node) in {workdir / 'broker'}")
    with LocalKafka(workdir / "broker") as broker:
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap_servers  # conf/kafka reads it
        config = load_config(DEFAULT_CONF_DIR, ENV)
        kafka = config.job.kafka
        print(f"      broker {broker.bootstrap_servers} (pid {broker.pid})")
        step(2, f"creating the topics ({kafka.partitions} partitions each)")
        create_topics(broker.bootstrap_servers, [*kafka.topics.values(), kafka.outcomes_topic], kafka.partitions)
        print("      " + ", ".join([*kafka.topics.values(), kafka.outcomes_topic]))
        step(3, f"producing the landed events of {args.input} and the outcomes of {args.labels}")
        produced = produce_lines(broker.bootstrap_servers, kafka.topics["transactions"], events)
        outcomes = produce_lines(broker.bootstrap_servers, kafka.outcomes_topic, landed_outcomes(args.labels))
        topic = kafka.topics["transactions"]
        print(f"      {produced:,} events to {topic}, {outcomes:,} outcomes to {kafka.outcomes_topic}")
        if not_read:
            print(f"      files not read (landing contract): {', '.join(not_read)}")
        positions = positions_before_run(broker.bootstrap_servers, kafka)
        step(4, "running the job from topic to topic (exactly-once), to the end of the events topic")
        command = [sys.executable, "-m", "flink_app", "score", "--env", ENV, "--until-end"]
        command += ["--model", args.model, "--state-dir", str(workdir / "state")]
        started = time.perf_counter()
        job = subprocess.run(command, cwd=PROJECT_ROOT, check=False)
        seconds = time.perf_counter() - started
        if job.returncode != 0:
            print(f"error [stream_job_failed]: the job exited with {job.returncode}", file=sys.stderr)
            return job.returncode
        step(5, "the stream summary, read back from the output topics (read_committed)")
        outputs = read_outputs(broker.bootstrap_servers, kafka, positions.output_end)
        versions = {str(orjson.loads(record.value)["model_version"]) for record in outputs["scored"][:1]}
        summary = summarize_run(positions, outputs, seconds=seconds, model_version=", ".join(versions) or "none")
        print(summary.render())
        step(6, f"a few alerts from {kafka.topics['alerts']}")
        for record in outputs["alerts"][: args.alerts]:
            alert = orjson.loads(record.value)
            print("      " + json.dumps({name: alert.get(name) for name in ALERT_FIELDS}, ensure_ascii=False))
        step(7, f"stopping the broker (pid {broker.pid})")
    print("      stopped")
    return 0 if summary.balanced else 1


if __name__ == "__main__":
    sys.exit(main())
