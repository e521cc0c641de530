"""Raw lines to the scoring function: in mini-batches per shard of customers, or one by one.

Mini-batches (``MiniBatchLines.java``, ADR 0009) and the per-line key (``RoutingKey.java``, ADR
0008) come from small Java classes compiled here on first use; so does the Kafka source's
deserializer (``kafka/KafkaLines.java``, compiled against the Kafka connector, ADR 0010), whose
lines begin with their origin (``after_origin``). In PyFlink's thread mode every
Python operator of a TaskManager shares one interpreter lock: keyed in the JVM, the source task
runs no Python and it runs beside the scoring function (see the flink_app README, Speed).
``RoutingKey`` reads ``customer_id`` by the rule of ``streamflow.core.routing_key``; the scoring
function checks the key of every line that needed a JSON parser (``keyed_without_parser``), so
no event is scored against another key's state. Without a JDK, lines are keyed in Python.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyflink
from pyflink.common import Types
from pyflink.datastream import DataStream, KeyedStream, StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway

from streamflow.core import routing_key

logger = logging.getLogger(__name__)

JAVA_ROOT = Path(__file__).parent / "java"
JAVA_PACKAGE = JAVA_ROOT / "io" / "streamflow" / "flink"
JAVA_CLASS = "io.streamflow.flink.RoutingKey"
KAFKA_PACKAGE = JAVA_PACKAGE / "kafka"  # compiled apart, against the Kafka connector (Kafka mode only)
# The Kafka source's lines begin with their origin, kafka:<topic>/<partition>@<offset>, and this
# (KafkaLines.java); topic names cannot hold it, so the first one ends the origin.
ORIGIN_SEPARATOR = "\n"
# Not build/: that is where `kedro viz build` (and other tools) write.
BUILD_DIR = Path(__file__).resolve().parent.parent / ".build" / "flink_app"
JAVA_RELEASE = "11"  # the oldest Java Flink 2 runs on


def java_sources() -> list[Path]:
    """The Java classes' sources, in file-name order."""
    return sorted(JAVA_PACKAGE.glob("*.java"))


def jar_name(sources: bytes, *, prefix: str = "streamflow-routing") -> str:
    """The jar's file name: the sources' digest (in file-name order), so a changed source is compiled again."""
    return f"{prefix}-{hashlib.sha256(sources).hexdigest()[:12]}.jar"


def routing_jar(build_dir: Path = BUILD_DIR) -> Path | None:
    """The jar of ``flink_app/java``, compiled with ``javac`` if not built yet; ``None`` without a JDK."""
    jar = _compiled_jar(java_sources(), flink_jars(), build_dir, prefix="streamflow-routing")
    if jar is None:
        logger.warning("No javac here (a JRE only): lines are keyed in Python, about half as fast")
    return jar


def kafka_sources() -> list[Path]:
    """The Kafka source's Java classes (``KafkaLines``), in file-name order."""
    return sorted(KAFKA_PACKAGE.glob("*.java"))


def kafka_jar(connector: Path, build_dir: Path = BUILD_DIR) -> Path | None:
    """The jar of ``flink_app/java/.../kafka``, compiled against the Kafka ``connector`` jar; ``None`` without a JDK.

    Its name also carries the connector's file name: a class compiled against one connector's
    relocated Kafka classes is not used with another's.
    """
    sources = kafka_sources()
    return _compiled_jar(sources, [*flink_jars(), connector], build_dir, prefix=f"streamflow-kafka-{connector.stem}")


def _compiled_jar(sources: list[Path], classpath: list[Path], build_dir: Path, *, prefix: str) -> Path | None:
    """``sources`` compiled against ``classpath`` into a jar named by their digest; ``None`` without ``javac``."""
    jar = build_dir / jar_name(b"".join(source.read_bytes() for source in sources), prefix=prefix)
    if jar.is_file():
        return jar
    javac = shutil.which("javac")
    if javac is None:
        return None
    build_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=build_dir) as scratch:
        classes = Path(scratch) / "classes"
        command = [
            javac,
            "--release",
            JAVA_RELEASE,
            "-cp",
            os.pathsep.join(map(str, classpath)),
            "-d",
            str(classes),
            *map(str, sources),
        ]
        subprocess.run(command, check=True, capture_output=True, text=True)
        built = Path(scratch) / jar.name
        with zipfile.ZipFile(built, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(classes.rglob("*.class")):
                archive.write(path, path.relative_to(classes).as_posix())
        os.replace(built, jar)  # atomic: a concurrent build leaves one whole jar
    return jar


def flink_jars() -> list[Path]:
    """Flink's own classes the Java sources use (the API, its shaded Jackson, the file connector), from pyflink."""
    lib = Path(pyflink.__file__).parent / "lib"
    return [next(lib.glob("flink-dist-*.jar")), next(lib.glob("flink-connector-files-*.jar"))]


def landed_bytes(line: str) -> bytes:
    """The bytes a raw line landed as: the sources carry them one character per byte (ISO-8859-1).

    The file reader (``JsonLinesFormat.java``) and the Kafka source decode nothing, so the parser
    decodes the exact bytes, strictly, as batch does. A string holding a character beyond one byte
    did not come from them: it is text, and its UTF-8 bytes are what it stands for.
    """
    try:
        return line.encode("latin-1")
    except UnicodeEncodeError:
        return line.encode("utf-8", "surrogatepass")


def as_landed(text: str) -> str:
    """A line of text as the sources carry it (its UTF-8 bytes, one character each): for tests and benchmarks."""
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


def landed_routing_key(line: str) -> str:
    """``routing_key`` of a raw line as the sources carry it (keying in Python)."""
    return routing_key(landed_bytes(line))


def after_origin(line: str) -> str:
    """The raw line after its origin (``kafka:<topic>/<partition>@<offset>``, ``labels:<path>``), if it has one.

    A raw line holds no newline: one that does begins with its origin, ended by the first.
    """
    return line[line.find(ORIGIN_SEPARATOR) + 1 :]


def origin_routing_key(line: str) -> str:
    """``landed_routing_key`` of the raw line after its origin, if it has one (keying in Python)."""
    return routing_key(landed_bytes(after_origin(line)))


def key_by_customer(env: StreamExecutionEnvironment, lines: DataStream, keying: str) -> KeyedStream:
    """``lines`` keyed by ``customer_id``: in the JVM (``keying: jvm``, when a jar can be had) or in Python.

    A line that begins with its origin is keyed by the raw line after it.
    """
    jar = routing_jar() if keying != "python" else None
    if jar is None:
        return lines.key_by(origin_routing_key, key_type=Types.STRING())
    env.add_jars(jar.as_uri())
    gateway: Any = get_gateway()
    with_key = Types.ROW([Types.STRING(), Types.STRING()]).get_java_type_info()
    pairs = lines._j_data_stream.map(gateway.jvm.io.streamflow.flink.RoutingKey()).returns(with_key)
    pairs.uid("routing-key").name("routing-key")
    # What PyFlink's own key_by builds after its Python map: key = field 0 of (key, line).
    key_type = Types.ROW([Types.STRING()]).get_java_type_info()
    return KeyedStream(pairs.keyBy(gateway.jvm.KeyByKeySelector(), key_type), Types.STRING(), lines)


BATCH_TYPE = Types.BASIC_ARRAY(Types.STRING())  # a mini-batch: [key, line, key, line, ...]
HANDOFF_TYPE = Types.PRIMITIVE_ARRAY(Types.BYTE())  # handed-on events, framed (HandoffFrames.java)
# a batch's scored records: UTF-8 JSON lines joined by newlines (ExplodeLines.java splits them)
SCORED_LINES_TYPE = Types.PRIMITIVE_ARRAY(Types.BYTE())


def shard_of(customer_id: str, shards: int) -> int:
    """``MiniBatchLines.shardOf``: CRC-32 of the id's UTF-8 bytes modulo ``shards``."""
    return zlib.crc32(customer_id.encode("utf-8", "surrogatepass")) % shards


def cut_batches(lines: Iterable[str], shards: int, size: int) -> Iterator[list[str]]:
    """The batches ``MiniBatchLines`` cuts from landed ``lines`` by count alone (no time, no checkpoints)."""
    batches: dict[int, list[str]] = {}
    for line in lines:
        key = origin_routing_key(line)
        batch = batches.setdefault(shard_of(key, shards), [])
        batch += (key, line)
        if len(batch) >= 2 * size:
            yield batch.copy()
            batch.clear()
    yield from (batch for batch in batches.values() if batch)


def mini_batches(
    env: StreamExecutionEnvironment,
    lines: DataStream,
    shards: int,
    size: int,
    allow_latency_ms: int,
    *,
    stamped: bool = False,
) -> KeyedStream | None:
    """``lines`` in mini-batches keyed by shard of ``customer_id`` (``MiniBatchLines.java``); ``None`` without a JDK.

    A line that begins with its origin is keyed by the raw line after it. With ``stamped`` (the
    two-entity job), a batch is ``[key, stamp, line, ...]``: each line's
    ingestion stamp, which the watermarks that follow the batches pass (ADR 0012).
    """
    jar = routing_jar()
    if jar is None:
        return None
    env.add_jars(jar.as_uri())
    gateway: Any = get_gateway()
    operator = gateway.jvm.io.streamflow.flink.MiniBatchLines(shards, size, allow_latency_ms, stamped)
    batches = lines._j_data_stream.transform("mini-batches", _with_shard(), operator)
    return _keyed_by_shard(batches, "mini-batches", lines)


def merchant_batches(accepted: DataStream, shards: int, size: int, release_every_ms: int) -> KeyedStream:
    """The customer stage's handed-on events (frames, ``HandoffFrames.java``) as batches keyed by shard of ``store_id``.

    ``MerchantShards.java`` splits each array by shard, ``keyBy`` sends each shard to its task,
    and ``MerchantBatches.java`` (a keyed operator) holds a shard's events until the watermark
    passes their stamps (checked every ``release_every_ms`` of stamps), then releases them in stamp
    order, as frames again. Its output
    is already partitioned by shard, so the merchant stage reads it as a keyed stream without a
    second shuffle (``reinterpretAsKeyedStream``).
    """
    gateway: Any = get_gateway()
    flink = gateway.jvm.io.streamflow.flink
    split = accepted._j_data_stream.flatMap(flink.MerchantShards(shards)).returns(_with_shard(HANDOFF_TYPE))
    split.uid("merchant-shards").name("merchant-shards")
    key_type = Types.ROW([Types.STRING()]).get_java_type_info()
    keyed = split.keyBy(gateway.jvm.KeyByKeySelector(), key_type)
    released = keyed.transform(
        "merchant-batches", _with_shard(HANDOFF_TYPE), flink.MerchantBatches(size, release_every_ms)
    )
    released.uid("merchant-batches").name("merchant-batches")
    utils = gateway.jvm.org.apache.flink.streaming.api.datastream.DataStreamUtils
    return KeyedStream(
        utils.reinterpretAsKeyedStream(released, gateway.jvm.KeyByKeySelector(), key_type), HANDOFF_TYPE, accepted
    )


def _with_shard(batch_type: Any = BATCH_TYPE) -> Any:
    """The Java type of ``Row(shard, batch)``."""
    return Types.ROW([Types.STRING(), batch_type]).get_java_type_info()


def _keyed_by_shard(batches: Any, uid: str, upstream: DataStream) -> KeyedStream:
    """Java ``Row(shard, batch)`` records keyed by their shard, as a PyFlink keyed stream of batches."""
    batches.uid(uid).name(uid)
    gateway: Any = get_gateway()
    key_type = Types.ROW([Types.STRING()]).get_java_type_info()
    return KeyedStream(batches.keyBy(gateway.jvm.KeyByKeySelector(), key_type), BATCH_TYPE, upstream)


def explode_lines(batches: DataStream) -> DataStream:
    """One record per line of a stream of scored batches (``SCORED_LINES_TYPE``, ``ExplodeLines.java``), in the JVM.

    A batch crosses from Python as one byte array, copied once: as an array of strings, each
    line would be converted to UTF-16 and serialized a character at a time on the scoring thread.

    It starts a chain of its own: the records' split and their sink run in a task thread beside
    the scoring task, not in its turn (the scoring thread is the job's bottleneck).
    """
    gateway: Any = get_gateway()
    lines = batches._j_data_stream.flatMap(gateway.jvm.io.streamflow.flink.ExplodeLines()).startNewChain()
    lines = lines.returns(Types.STRING().get_java_type_info()).uid("explode-scored").name("explode-scored")
    return DataStream(lines)
