"""Raw lines keyed by customer: in the JVM (a small Java map, compiled here on first use) or in Python.

In PyFlink's thread mode every Python operator of a TaskManager shares one interpreter lock.
A Python key selector runs in the source task, so the source and the keyed function take turns
on the lock for every event; keyed in the JVM, the source task runs no Python and the two run
side by side (see the flink_app README, Speed). ``RoutingKey.java`` reads ``customer_id`` by the
rule of ``streamflow.core.routing_key``; the keyed function checks the key of every line that
needed a JSON parser (``keyed_without_parser``), so no event is scored against another key's state.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pyflink
from pyflink.common import Types
from pyflink.datastream import DataStream, KeyedStream, StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway

from streamflow.core import routing_key

logger = logging.getLogger(__name__)

JAVA_ROOT = Path(__file__).parent / "java"
JAVA_SOURCE = JAVA_ROOT / "io" / "streamflow" / "flink" / "RoutingKey.java"
JAVA_CLASS = "io.streamflow.flink.RoutingKey"
BUILD_DIR = Path(__file__).resolve().parent.parent / "build" / "flink_app"
JAVA_RELEASE = "11"  # the oldest Java Flink 2 runs on


def jar_name(source: bytes) -> str:
    """The jar's file name: the source's digest, so a changed source is compiled again."""
    return f"streamflow-routing-{hashlib.sha256(source).hexdigest()[:12]}.jar"


def routing_jar(build_dir: Path = BUILD_DIR) -> Path | None:
    """The jar holding ``RoutingKey``, compiled with ``javac`` if not built yet; ``None`` without a JDK."""
    jar = build_dir / jar_name(JAVA_SOURCE.read_bytes())
    if jar.is_file():
        return jar
    javac = shutil.which("javac")
    if javac is None:
        logger.warning("No javac here (a JRE only): lines are keyed in Python, about half as fast")
        return None
    build_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=build_dir) as scratch:
        classes = Path(scratch) / "classes"
        command = [javac, "--release", JAVA_RELEASE, "-cp", str(flink_dist_jar()), "-d", str(classes), str(JAVA_SOURCE)]
        subprocess.run(command, check=True, capture_output=True, text=True)
        built = Path(scratch) / jar.name
        with zipfile.ZipFile(built, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(classes.rglob("*.class")):
                archive.write(path, path.relative_to(classes).as_posix())
        os.replace(built, jar)  # atomic: a concurrent build leaves one whole jar
    return jar


def flink_dist_jar() -> Path:
    """Flink's own classes (the Java API, its shaded Jackson), shipped inside the pyflink package."""
    return next((Path(pyflink.__file__).parent / "lib").glob("flink-dist-*.jar"))


def key_by_customer(env: StreamExecutionEnvironment, lines: DataStream, keying: str) -> KeyedStream:
    """``lines`` keyed by ``customer_id``: in the JVM (``keying: jvm``, when a jar can be had) or in Python."""
    jar = routing_jar() if keying == "jvm" else None
    if jar is None:
        return lines.key_by(routing_key, key_type=Types.STRING())
    env.add_jars(jar.as_uri())
    gateway: Any = get_gateway()
    with_key = Types.ROW([Types.STRING(), Types.STRING()]).get_java_type_info()
    pairs = lines._j_data_stream.map(gateway.jvm.io.streamflow.flink.RoutingKey()).returns(with_key)
    pairs.uid("routing-key").name("routing-key")
    # What PyFlink's own key_by builds after its Python map: key = field 0 of (key, line).
    key_type = Types.ROW([Types.STRING()]).get_java_type_info()
    return KeyedStream(pairs.keyBy(gateway.jvm.KeyByKeySelector(), key_type), Types.STRING(), lines)
