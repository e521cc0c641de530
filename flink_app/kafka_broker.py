"""A local Apache Kafka broker for tests, ``make kafka-demo`` and ``make bench``: one KRaft node on loopback.

``python -m flink_app.kafka_broker --dir DIR [--port PORT]`` runs one until Ctrl-C (or SIGTERM).

The broker is the real Apache Kafka (``kafka_2.13``, pinned in ``tools/kafka/pom.xml`` and fetched by
``tools/kafka/fetch`` into ``.build/kafka/broker``), in KRaft mode with no ZooKeeper: one process that is
both broker and controller, its storage formatted first (``kafka.tools.StorageTool format``), listening
on two free loopback ports (clients, controller). It is started as a child process and stopped by
that process's PID (SIGTERM, a clean shutdown; SIGKILL after a grace period), never by name.

Settings are for one small node: internal topics with one replica and few partitions, no automatic
topic creation (a misnamed topic is an error, not a new topic), and the default
``transaction.max.timeout.ms`` (15 min), which admits the job's sink transactions
(``stream.kafka.transaction_timeout_ms``).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

from flink_app.config import PROJECT_ROOT

logger = logging.getLogger(__name__)

BROKER_LIB = PROJECT_ROOT / ".build" / "kafka" / "broker"  # tools/kafka/fetch puts the broker's jars here
FETCH_COMMAND = "make kafka-artifacts"
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
HEAP = "-Xmx768m"
# One node: every internal topic with one replica; few partitions, so that it starts in seconds.
NODE_SETTINGS = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "auto.create.topics.enable": "false",
    "num.partitions": "1",
    "default.replication.factor": "1",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "4",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "4",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "num.network.threads": "2",
    "num.io.threads": "4",
    "log.retention.check.interval.ms": "600000",
}


class BrokerError(RuntimeError):
    """The local broker could not be started (its jars missing, Java missing, or it exited at start)."""

    code = "kafka_broker_failed"


def free_port() -> int:
    """A TCP port on loopback that is free now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts(port: int) -> bool:
    """Whether something accepts TCP connections on loopback ``port``."""
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def java_command() -> str:
    """The ``java`` to run the broker with (``JAVA_HOME`` first, then ``PATH``)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and Path(java_home, "bin", "java").is_file():
        return str(Path(java_home, "bin", "java"))
    found = shutil.which("java")
    if found is None:
        raise BrokerError("Java not found: the Kafka broker needs Java 17 (apt-get install openjdk-17-jre-headless)")
    return found


def broker_classpath(lib: Path = BROKER_LIB) -> str:
    """The broker's classpath: every jar ``tools/kafka/fetch`` copied; refused when they are not there."""
    if not any(lib.glob("kafka_2.13-*.jar")):
        raise BrokerError(f"no Kafka broker jars in {lib}: fetch them with `{FETCH_COMMAND}` (tools/kafka/fetch)")
    return str(lib / "*")


class LocalKafka:
    """One single-node KRaft broker on loopback, in ``workdir``; a context manager that stops it.

    Example::

        with LocalKafka(tmp_path) as kafka:
            print(kafka.bootstrap_servers)  # 127.0.0.1:PORT
    """

    def __init__(self, workdir: Path, *, port: int | None = None, heap: str = HEAP) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.controller_port = free_port()
        self._heap = heap
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Path = workdir / "broker.log"

    @property
    def bootstrap_servers(self) -> str:
        """Where clients connect: ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker process's PID while it runs."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def properties(self) -> dict[str, str]:
        """The broker's ``server.properties``."""
        return {
            **NODE_SETTINGS,
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "log.dirs": str(self.workdir / "data"),
        }

    def start(self) -> LocalKafka:
        """Format the storage, start the broker, and return once it answers clients."""
        java, classpath = java_command(), broker_classpath()
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "server.properties"
        config.write_text("".join(f"{key}={value}\n" for key, value in self.properties().items()), encoding="utf-8")
        base = [java, self._heap, "-cp", classpath, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"]
        cluster_id = subprocess.run(
            [*base, STORAGE_TOOL, "random-uuid"], check=True, capture_output=True, text=True
        ).stdout.strip()
        formatted = subprocess.run(
            [*base, STORAGE_TOOL, "format", "--cluster-id", cluster_id, "--config", str(config)],
            capture_output=True,
            text=True,
            check=False,
        )
        if formatted.returncode != 0:
            raise BrokerError(f"formatting the broker's storage failed: {formatted.stderr.strip()[-2000:]}")
        with self._log.open("wb") as log:
            self._process = subprocess.Popen([*base, MAIN_CLASS, str(config)], stdout=log, stderr=subprocess.STDOUT)
        logger.info("Kafka broker (pid %s) starting on %s", self._process.pid, self.bootstrap_servers)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + READY_TIMEOUT_S
        admin = None
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise BrokerError(f"the Kafka broker exited at start ({self._process.returncode}): {self.log_tail()}")
            if admin is None and _accepts(self.port):  # a client before that would log every refused connection
                admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
            if admin is not None:
                try:
                    if admin.list_topics(timeout=2).brokers:
                        return
                except Exception:  # not answering yet: a KafkaException of any kind
                    pass
            if time.monotonic() > deadline:
                raise BrokerError(f"the Kafka broker did not answer within {READY_TIMEOUT_S:.0f} s: {self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, characters: int = 2000) -> str:
        """The end of the broker's log."""
        try:
            return self._log.read_text(encoding="utf-8", errors="replace")[-characters:]
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """Stop the broker by the PID started: SIGTERM (a controlled shutdown), SIGKILL if it lingers."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            logger.warning("Kafka broker (pid %s) did not stop in %.0f s: killing it", process.pid, STOP_TIMEOUT_S)
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Run a broker in ``--dir`` until Ctrl-C or SIGTERM, saying where it listens and its PID."""
    parser = argparse.ArgumentParser(prog="python -m flink_app.kafka_broker", description=__doc__)
    parser.add_argument("--dir", type=Path, required=True, help="its storage, config and log (created)")
    parser.add_argument("--port", type=int, help="the client port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with LocalKafka(args.dir, port=args.port) as broker:
            print(f"Kafka broker on {broker.bootstrap_servers} (pid {broker.pid}); log {args.dir / 'broker.log'}")
            print(f"  export KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}   # Ctrl-C stops it", flush=True)
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass
    except BrokerError as error:
        print(f"error [{error.code}]: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
