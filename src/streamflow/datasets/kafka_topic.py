"""A Kafka topic of JSON records, read from where the last finished run stopped; offsets kept in gold.

The production stream writes its alerts, dead letters and scored events to Kafka topics
(``conf/prod/stream.yml``). :class:`KafkaTopicDataset` brings them back to the batch side: each
load reads the committed records (``read_committed``: never a record of an aborted or open
transaction) after the offsets stored for the dataset's ``consumer`` in the gold table
``kafka_offsets``, up to the end of each partition. The offsets move only when the dataset is
confirmed (:meth:`KafkaTopicDataset.confirm`), which :class:`KafkaOffsetsHooks` does for every
Kafka dataset a run loaded once the whole run has finished. A run that fails confirms nothing, so
the next run reads the same records again; gold's facts are written ``insert_new`` by their key
(``fact_fraud_alerts`` by ``alert_id``), so a record read twice is stored once. Offsets and the
facts live in the same database, so they are backed up and restored together.

Why not Kafka Connect to object storage: it is one more service to run, secure and watch, the
batch job would still need to know which objects it has loaded, and nothing here could test it.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import pandas as pd
import sqlalchemy as sa
from kedro.framework.hooks import hook_impl
from kedro.io.core import AbstractDataset, DatasetError
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from streamflow.datasets.connection import GoldDatabaseError, unreachable_message
from streamflow.datasets.optional_partitions import MissingInputError

logger = logging.getLogger(__name__)

OFFSETS_TABLE = "kafka_offsets"
METADATA_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 30.0  # no record and no partition end for this long: the broker is not answering
POLL_BATCH = 1_000
_DIALECT_INSERTS: dict[str, Any] = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}


class TopicRecord(NamedTuple):
    """One record as read: where it sits, its timestamp (ms) and its value's bytes (``b""`` for none)."""

    partition: int
    offset: int
    timestamp_ms: int
    value: bytes


class KafkaReadError(DatasetError):
    """A topic could not be read (no broker answering, a missing topic, an error from the broker)."""

    code = "kafka_read_failed"


def client_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The librdkafka settings that are set (unset ones, ``None`` or empty from the environment, left out).

    A plaintext client leaves out the settings only TLS and SASL take, which librdkafka would
    otherwise warn about or refuse.
    """
    given = {name: value for name, value in settings.items() if value not in (None, "")}
    protocol = str(given.get("security.protocol", "PLAINTEXT")).upper()
    if "SASL" not in protocol:
        given = {name: value for name, value in given.items() if not name.startswith("sasl.")}
    if "SSL" not in protocol:
        given = {name: value for name, value in given.items() if not name.startswith("ssl.")}
    return given


def _consumer(client: Mapping[str, Any], group: str) -> Any:
    from confluent_kafka import Consumer

    settings = {
        **client,
        "group.id": group,  # never joined, never committed: positions are assigned, offsets kept by the caller
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
    }
    return Consumer(settings)


def topic_partitions(client: Mapping[str, Any], topic: str) -> list[int] | None:
    """The topic's partitions in order, or ``None`` when there is no such topic."""
    from confluent_kafka import KafkaException

    consumer = _consumer(client, "streamflow-metadata")
    try:
        metadata = consumer.list_topics(topic, timeout=METADATA_TIMEOUT_S)
    except KafkaException as error:
        raise KafkaReadError(f"cannot read the metadata of topic {topic!r}: {error}") from error
    finally:
        consumer.close()
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        return None
    return sorted(found.partitions)


def watermark_offsets(client: Mapping[str, Any], topic: str) -> dict[int, tuple[int, int]]:
    """Each partition's (first offset still kept, end for a ``read_committed`` reader), by partition."""
    from confluent_kafka import TopicPartition

    partitions = topic_partitions(client, topic)
    if partitions is None:
        raise KafkaReadError(f"there is no topic {topic!r}")
    consumer = _consumer(client, "streamflow-metadata")
    try:
        offsets = {
            partition: consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=METADATA_TIMEOUT_S)
            for partition in partitions
        }
    finally:
        consumer.close()
    return {partition: (int(low), int(high)) for partition, (low, high) in offsets.items()}


def end_offsets(client: Mapping[str, Any], topic: str) -> dict[int, int]:
    """Each partition's end for a ``read_committed`` reader (its last stable offset), by partition."""
    return {partition: high for partition, (_, high) in watermark_offsets(client, topic).items()}


def read_committed(
    client: Mapping[str, Any],
    topic: str,
    start: Mapping[int, int] | None = None,
    *,
    group: str = "streamflow-reader",
    idle_timeout_s: float = IDLE_TIMEOUT_S,
) -> Iterator[TopicRecord]:
    """Every committed record of ``topic`` from ``start`` (by partition; the earliest where missing) to its end.

    The end is where each partition ends for a ``read_committed`` reader when the read reaches it
    (the partition-end event): records of open or aborted transactions are never returned, and
    the transaction markers that take offsets are skipped. Raises :class:`KafkaReadError` when the
    broker reports an error, or when ``idle_timeout_s`` passes with neither a record nor a partition end.
    """
    from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

    partitions = topic_partitions(client, topic)
    if partitions is None:
        raise KafkaReadError(f"there is no topic {topic!r}")
    consumer = _consumer(client, group)
    try:
        consumer.assign([TopicPartition(topic, p, (start or {}).get(p, OFFSET_BEGINNING)) for p in partitions])
        pending = set(partitions)
        quiet_since = time.monotonic()
        while pending:
            messages = consumer.consume(POLL_BATCH, timeout=1.0)
            if messages:
                quiet_since = time.monotonic()
            for message in messages:
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
                    continue
                if error is not None:
                    raise KafkaReadError(f"reading topic {topic!r}: {error}")
                _, timestamp = message.timestamp()
                yield TopicRecord(message.partition(), message.offset(), int(timestamp), message.value() or b"")
            if pending and time.monotonic() - quiet_since > idle_timeout_s:
                raise KafkaReadError(
                    f"reading topic {topic!r}: no record and no partition end for {idle_timeout_s:.0f} s "
                    f"(partitions {sorted(pending)} pending); is the broker up?"
                )
    finally:
        consumer.close()


def records_frame(values: list[bytes]) -> pd.DataFrame:
    """JSON records as a frame, read as ``pandas.JSONDataset`` reads the stream's JSON lines."""
    text = b"\n".join(values).decode("utf-8")
    return pd.read_json(io.StringIO(text), lines=True, dtype=False, convert_dates=False)


def offsets_table() -> sa.Table:
    """``kafka_offsets``: per consumer, topic and partition, the next offset to read."""
    return sa.Table(
        OFFSETS_TABLE,
        sa.MetaData(),
        sa.Column("consumer", sa.String(), primary_key=True),
        sa.Column("topic", sa.String(), primary_key=True),
        sa.Column("partition", sa.Integer(), primary_key=True),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


class KafkaTopicDataset(AbstractDataset[None, dict[str, Callable[[], pd.DataFrame]]]):
    """A topic of JSON records, loaded from the offsets stored in gold for ``consumer``; read-only.

    ``load`` returns one loader per partition with new records (``<topic>/<partition>@<first>-<last>``,
    a frame of that partition's records in offset order), as ``OptionalPartitionedDataset`` returns
    one per file, so the nodes that read the stream's files read the topic unchanged; ``{}`` when
    nothing is new. ``confirm`` stores where the load stopped. One consumer name per dataset: two
    datasets with the same name would take each other's records.

    Example (``conf/prod/catalog_stream.yml``)::

        stream_alerts:
          type: streamflow.datasets.KafkaTopicDataset
          topic: fraud-alerts
          consumer: gold.fact_fraud_alerts
          client: {credentials: stream_kafka}   # librdkafka settings: bootstrap.servers, security
          credentials: gold_db                  # where the offsets are kept
          required: true
    """

    def __init__(
        self,
        *,
        topic: str,
        consumer: str,
        client: Mapping[str, Any] | None = None,
        credentials: Mapping[str, Any] | None = None,
        required: bool = True,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Configure the topic, the consumer name, the Kafka client and the gold connection.

        Args:
            topic: The topic to read.
            consumer: Whose offsets these are in ``kafka_offsets`` (one per dataset).
            client: librdkafka settings, ``{"credentials": {...}}`` from the credentials, or the
                settings themselves: ``bootstrap.servers`` and security (``security.protocol``,
                ``sasl.*``, ``ssl.ca.location``).
            credentials: ``{"con": <SQLAlchemy URL>}`` of the gold database (the offsets).
            required: A missing topic is an error (``required_input_missing``); else it loads as nothing.
            metadata: Ignored by Kedro.

        Raises:
            DatasetError: Without a connection or ``bootstrap.servers``.

        """
        settings = dict(client or {})
        settings = dict(settings.get("credentials") or settings)
        settings = client_settings(settings)
        if not settings.get("bootstrap.servers"):
            raise DatasetError(
                f"{topic}: the Kafka client needs 'bootstrap.servers' (credentials stream_kafka; in production "
                "the environment variable KAFKA_BOOTSTRAP_SERVERS)"
            )
        if not credentials or not credentials.get("con"):
            raise DatasetError(f"{topic}: no gold database connection for the offsets: set credentials (gold_db)")
        self._topic = topic
        self._consumer = consumer
        self._client = settings
        self._url = str(credentials["con"])
        self._required = required
        self._engine: sa.Engine | None = None
        self._reached: dict[int, int] = {}
        self.metadata = metadata

    @property
    def engine(self) -> sa.Engine:
        """The gold database's engine, created on first use."""
        if self._engine is None:
            self._engine = sa.create_engine(self._url)
        return self._engine

    def stored_offsets(self) -> dict[int, int]:
        """The next offset to read per partition, as the last confirmed load left it (none: from the start)."""
        table = offsets_table()
        try:
            with self.engine.connect() as connection:
                if not sa.inspect(connection).has_table(OFFSETS_TABLE):
                    return {}
                rows = connection.execute(
                    sa.select(table.c.partition, table.c.next_offset).where(
                        table.c.consumer == self._consumer, table.c.topic == self._topic
                    )
                )
                return {int(partition): int(offset) for partition, offset in rows}
        except sa.exc.OperationalError as exc:
            raise GoldDatabaseError(unreachable_message(self._url, exc, what=f"{OFFSETS_TABLE}: database")) from exc

    def load(self) -> dict[str, Callable[[], pd.DataFrame]]:
        """The records after the stored offsets, one loader per partition with new records."""
        if topic_partitions(self._client, self._topic) is None:
            if self._required:
                raise MissingInputError(
                    f"[{MissingInputError.code}] Kafka topic {self._topic!r} does not exist at "
                    f"{self._client['bootstrap.servers']}: this input is required here (required: true); check "
                    "that the stream job runs and writes it, and the topic name"
                )
            logger.warning("No Kafka topic %r: loading no records", self._topic)
            return {}
        start = self.stored_offsets()
        by_partition: dict[int, list[TopicRecord]] = {}
        for record in read_committed(self._client, self._topic, start, group=f"streamflow-{self._consumer}"):
            by_partition.setdefault(record.partition, []).append(record)
        self._reached = {
            **start,
            **{partition: records[-1].offset + 1 for partition, records in by_partition.items()},
        }
        loaders: dict[str, Callable[[], pd.DataFrame]] = {}
        for partition, records in sorted(by_partition.items()):
            name = f"{self._topic}/{partition}@{records[0].offset}-{records[-1].offset}"
            values = [record.value for record in records]
            loaders[name] = lambda values=values: records_frame(values)  # type: ignore[misc]
        logger.info(
            "Kafka topic %s: %d new records for %s", self._topic, sum(map(len, by_partition.values())), self._consumer
        )
        return loaders

    def confirm(self) -> None:
        """Store where the last load stopped, so that the next one starts after it (Kedro's ``confirm``)."""
        if not self._reached:
            return
        table = offsets_table()
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        rows = [
            {
                "consumer": self._consumer,
                "topic": self._topic,
                "partition": partition,
                "next_offset": offset,
                "updated_at": now,
            }
            for partition, offset in sorted(self._reached.items())
        ]
        try:
            with self.engine.begin() as connection:
                table.create(connection, checkfirst=True)
                dialect = connection.dialect.name
                if dialect not in _DIALECT_INSERTS:
                    raise DatasetError(f"{OFFSETS_TABLE}: database dialect {dialect!r} is not supported")
                statement = _DIALECT_INSERTS[dialect](table)
                statement = statement.on_conflict_do_update(
                    index_elements=["consumer", "topic", "partition"],
                    set_={"next_offset": statement.excluded.next_offset, "updated_at": statement.excluded.updated_at},
                )
                connection.execute(statement, rows)
        except sa.exc.OperationalError as exc:
            raise GoldDatabaseError(unreachable_message(self._url, exc, what=f"{OFFSETS_TABLE}: database")) from exc
        self._reached = {}

    def save(self, data: None) -> None:
        """Read-only: the stream job writes the topic."""
        raise DatasetError(f"{self._topic}: KafkaTopicDataset is read-only (the stream job writes the topic)")

    def _describe(self) -> dict[str, Any]:
        return {
            "topic": self._topic,
            "consumer": self._consumer,
            "bootstrap.servers": self._client.get("bootstrap.servers"),
        }


class KafkaOffsetsHooks:
    """Confirms every :class:`KafkaTopicDataset` a run loaded, once the whole run has finished.

    A run that fails confirms nothing: its Kafka inputs are read again by the next run. Confirming
    at the end of the run, not after the reading node, keeps it simple with the Sequential runner
    (the project's); the datasets confirmed are those of the run's own catalog.
    """

    def __init__(self) -> None:
        self._catalog: Any = None
        self._loaded: list[str] = []

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Start the run's list of Kafka datasets loaded."""
        self._catalog = catalog
        self._loaded = []

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any) -> None:
        """Note a Kafka dataset that was loaded."""
        if self._catalog is not None and isinstance(self._catalog.get(dataset_name), KafkaTopicDataset):
            self._loaded.append(dataset_name)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], run_result: Any, pipeline: Any, catalog: Any) -> None:
        """Store the offsets the run's Kafka datasets reached."""
        for name in dict.fromkeys(self._loaded):
            catalog.get(name).confirm()
        self._loaded = []

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """A failed run confirms nothing."""
        self._loaded = []
