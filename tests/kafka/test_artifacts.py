"""The Kafka path's Java artifacts: one pin each, the same in the Maven descriptor, the config and the image.

``tools/kafka/pom.xml`` pins the broker and the connector, ``tools/kafka/checksums.sha256`` their
SHA-256 sums (``tools/kafka/fetch`` checks the jars against them), ``conf/base/stream.yml`` names
the fetched connector, and ``flink_app/Dockerfile`` downloads the same connector, checked against the
same sum, and compiles the Kafka deserializer where ``flink_app.keying.kafka_jar`` looks for it.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from flink_app.config import load_config

from flink_app import keying
from tests.conftest import REPO_ROOT

POM = REPO_ROOT / "tools" / "kafka" / "pom.xml"
SUMS = REPO_ROOT / "tools" / "kafka" / "checksums.sha256"
DOCKERFILE = REPO_ROOT / "flink_app" / "Dockerfile"
FETCHED = REPO_ROOT / ".build" / "kafka"
MAVEN = "{http://maven.apache.org/POM/4.0.0}"


def _pom_property(name: str) -> str:
    found = ElementTree.parse(POM).getroot().find(f"{MAVEN}properties/{MAVEN}{name}")
    assert found is not None, name
    assert found.text, name
    return found.text.strip()


def _sums() -> dict[str, str]:
    lines = [line.split() for line in SUMS.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return {path: digest for digest, path in lines}


def test_the_broker_is_kafka_4_and_the_connector_a_flink_2_release() -> None:
    assert _pom_property("kafka.version").startswith("4.")  # KRaft only, no ZooKeeper
    assert re.fullmatch(r"\d+\.\d+\.\d+-2\.\d+", _pom_property("flink-kafka-connector.version"))


def test_the_pom_the_config_and_the_image_name_one_connector_version() -> None:
    version = _pom_property("flink-kafka-connector.version")
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    assert re.findall(r"^ARG KAFKA_CONNECTOR_VERSION=(\S+)$", dockerfile, flags=re.MULTILINE) == [version, version]
    jar = load_config().job.kafka.connector_jar
    assert jar == f".build/kafka/connector/flink-sql-connector-kafka-{version}.jar"


def test_the_image_checks_the_connector_against_the_committed_sum() -> None:
    version = _pom_property("flink-kafka-connector.version")
    digest = _sums()[f"connector/flink-sql-connector-kafka-{version}.jar"]
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    assert f"ARG KAFKA_CONNECTOR_SHA256={digest}\n" in dockerfile
    assert "| sha256sum -c -" in dockerfile


def test_the_sums_list_the_pinned_jars_and_the_fetched_jars_match_them() -> None:
    sums = _sums()
    assert f"broker/kafka_2.13-{_pom_property('kafka.version')}.jar" in sums
    fetched = sorted(path.relative_to(FETCHED).as_posix() for path in FETCHED.glob("*/*.jar"))
    assert fetched == sorted(sums), "run make kafka-artifacts (tools/kafka/fetch)"
    for path, digest in sums.items():
        assert hashlib.sha256((FETCHED / path).read_bytes()).hexdigest() == digest, path


def test_the_image_compiles_the_deserializer_where_the_job_looks_for_it() -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    image_connector = Path("/opt/flink/opt/flink-sql-connector-kafka.jar")
    assert f"-O {image_connector} " in dockerfile
    # kafka_jar names the jar streamflow-kafka-<connector file stem>-<12 hex of the sources' SHA-256>.jar
    prefix = f"streamflow-kafka-{image_connector.stem}"
    assert keying.jar_name(b"x", prefix=prefix) == f"{prefix}-2d711642b726.jar"
    assert f'"/jar/{prefix}-$(cat ${{sources}} | sha256sum | cut -c1-12).jar"' in dockerfile
    package = keying.KAFKA_PACKAGE.relative_to(REPO_ROOT).as_posix()
    assert f"COPY {package} /src/kafka\n" in dockerfile
    assert 'sources="$(LC_ALL=C ls /src/kafka/*.java)";' in dockerfile  # every source, in file-name order
    assert "COPY --from=kafka-lines /jar/ /opt/streamflow/.build/flink_app/\n" in dockerfile
