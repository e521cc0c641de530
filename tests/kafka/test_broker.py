"""The local broker starts (storage formatted, answering on loopback) and stops by its PID, leaving nothing."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from flink_app.kafka_broker import BROKER_LIB, BrokerError, LocalKafka, broker_classpath
from flink_app.kafka_topics import create_topics

from streamflow.datasets.kafka_topic import topic_partitions

pytestmark = pytest.mark.kafka


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_broker_starts_answers_and_stops_by_its_pid_leaving_no_java_process(tmp_path: Path) -> None:
    with LocalKafka(tmp_path / "broker") as broker:
        pid = broker.pid
        assert pid is not None
        assert _listening(broker.port)
        assert "kafka.Kafka" in Path(f"/proc/{pid}/cmdline").read_bytes().decode().replace("\0", " ")
        create_topics(broker.bootstrap_servers, ["probe"], partitions=2)
        assert topic_partitions({"bootstrap.servers": broker.bootstrap_servers}, "probe") == [0, 1]
        assert (tmp_path / "broker" / "data" / "meta.properties").is_file()  # the KRaft storage, formatted
        assert "process.roles=broker,controller" in (tmp_path / "broker" / "server.properties").read_text()
    assert not _alive(pid)
    assert not _listening(broker.port)
    assert broker.pid is None


def test_without_the_fetched_jars_the_broker_says_how_to_get_them(tmp_path: Path) -> None:
    assert any(BROKER_LIB.glob("kafka_2.13-*.jar"))
    with pytest.raises(BrokerError, match="make kafka-artifacts"):
        broker_classpath(tmp_path)
