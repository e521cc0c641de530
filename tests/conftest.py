"""Fixtures shared by the pipeline tests: a throwaway copy of the Kedro project."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from streamflow.devtools.scratch import dispose_cached_sql_engines, make_scratch_project

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Compile the core at numba's -O1, into the suite's own cache (inherited by every process a test starts).

    The suite checks numbers, not speed. Without fast-math, the arithmetic is IEEE at any
    optimisation level, so batch and stream still agree bit for bit; compiling the two-entity
    steps takes a fifth of the time. A cache of its own keeps the -O3 code that ``make run`` and
    ``make bench`` load from the tree's ``__pycache__`` apart.
    """
    os.environ.setdefault("NUMBA_OPT", "1")
    os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO_ROOT / ".build" / "numba-tests"))


@pytest.fixture
def kedro_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the project's config in a temp folder, made the working directory.

    The installed ``streamflow`` package provides the code; runs read and write only
    under the temp folder's ``data/``.
    """
    project = make_scratch_project(REPO_ROOT, tmp_path / "project")
    monkeypatch.chdir(project)
    dispose_cached_sql_engines()
    yield project
    dispose_cached_sql_engines()


def _postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        pytest.fail(f"PostgreSQL server binary '{name}' not found: install the 'postgresql' package (.ci/run does)")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL server on loopback in a temporary directory, for the whole session.

    Yields an admin URL (``postgresql+psycopg://streamflow@127.0.0.1:PORT/postgres``). The
    server is stopped through the PID of the process this fixture started.
    """
    run_as = "postgres" if os.geteuid() == 0 else None  # initdb refuses to run as root
    base = Path(tempfile.mkdtemp(prefix="streamflow-pg-"))
    data, sockets = base / "data", base / "sockets"
    sockets.mkdir()
    if run_as:
        for path in (base, sockets):
            shutil.chown(path, user=run_as)
    subprocess.run(
        [_postgres_bin("initdb"), "-D", str(data), "-U", "streamflow", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
        user=run_as,
    )
    port = _free_port()
    server = subprocess.Popen(
        [
            _postgres_bin("postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(sockets),
            "-c",
            "fsync=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        user=run_as,
    )
    url = f"postgresql+psycopg://streamflow@127.0.0.1:{port}/postgres"
    try:
        _wait_for_postgres(url, server)
        yield url
    finally:
        server.terminate()  # SIGTERM to the PID we started: a "smart" shutdown
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)


def _wait_for_postgres(url: str, server: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    engine = sa.create_engine(url)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if server.poll() is not None:
                stderr = server.stderr.read().decode() if server.stderr else ""
                pytest.fail(f"PostgreSQL exited at start: {stderr}")
            try:
                with engine.connect():
                    return
            except sa.exc.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        engine.dispose()


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server; dropped afterwards."""
    name = f"streamflow_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Apache Kafka broker (KRaft, one node, ``flink_app.kafka_broker``) on loopback, for the whole session.

    Yields its bootstrap servers (``127.0.0.1:PORT``). Its jars come from ``make kafka-artifacts``
    (``make test`` fetches them first); without them the test fails, saying so. The broker is
    stopped through the PID of the process this fixture started. Tests share it: each uses topics
    and groups of its own.
    """
    from flink_app.kafka_broker import BrokerError, LocalKafka

    broker = LocalKafka(tmp_path_factory.mktemp("kafka-broker"))
    try:
        broker.start()
    except BrokerError as error:
        pytest.fail(f"the local Kafka broker did not start: {error}")
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


PRODUCTION_STREAM_TOPICS = ("fraud-alerts", "transactions-dlq", "transactions-scored")  # conf/prod/catalog_stream.yml


@pytest.fixture
def production_stream_topics(kafka_broker: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Production's stream output topics on the session's broker, and the batch's Kafka client pointed at it.

    What ``kedro run --env prod`` reads the stream's outputs from (required there). The test broker
    has no TLS or SASL: the client is told plaintext, which leaves the security settings out.
    """
    from flink_app.kafka_topics import create_topics

    create_topics(kafka_broker, PRODUCTION_STREAM_TOPICS, 1)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker)
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    return kafka_broker
