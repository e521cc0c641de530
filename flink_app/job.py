"""The PyFlink job: parse (dead letters on a side output), event time, key by customer, score, sink.

The functions here only move data between Flink and ``flink_app.records`` (plain Python,
tested without Flink): they load state, call the records functions, store state, emit.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

from pyflink.common import Configuration, Duration, Types, WatermarkStrategy
from pyflink.common.serialization import Encoder, SimpleStringSchema
from pyflink.common.time import Time
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import (
    KeyedProcessFunction,
    OutputTag,
    ProcessFunction,
    RuntimeContext,
    RuntimeExecutionMode,
    StreamExecutionEnvironment,
)
from pyflink.datastream.connectors.file_system import FileSink, FileSource, OutputFileConfig, StreamFormat
from pyflink.datastream.state import MapStateDescriptor, StateTtlConfig, ValueStateDescriptor

from flink_app.config import JobSettings, StreamConfig, flink_settings
from flink_app.records import RULES_ONLY_VERSION, MetricCounts, dead_letter, score_event, to_json, utc_now
from streamflow import __version__ as job_version
from streamflow.core import (
    ContractConfig,
    CustomerState,
    DuplicateEventError,
    Event,
    EventError,
    RulesConfig,
    parse_event,
)
from streamflow.core.forest import ModelBundle, ModelError

logger = logging.getLogger(__name__)

ALERTS = OutputTag("fraud-alerts", Types.STRING())
DEAD_LETTERS = OutputTag("dead-letters", Types.STRING())
METRIC_GROUP = "streamflow"
EVENT_TIME, TRANSACTION_ID, CUSTOMER_ID = (
    Event._fields.index(name) for name in ("event_time_ms", "transaction_id", "customer_id")
)
LATENCY_SAMPLE_EVERY = 16  # one scoring-latency sample per this many events (each costs a JVM call)


@dataclass(frozen=True)
class Outputs:
    """Where the three outputs go: folders (files) or topics (Kafka)."""

    scored: str
    alerts: str
    dead_letters: str


class ParseEvents(ProcessFunction):  # type: ignore[misc]
    """Parse raw lines with the core parser; rejected lines go to the dead-letter output."""

    def __init__(self, contract: ContractConfig, source: str, model_version: str) -> None:
        self._contract = contract
        self._source = source
        self._model_version = model_version

    def open(self, runtime_context: RuntimeContext) -> None:
        """Register the metrics."""
        self._metrics = FlinkCounters(runtime_context, ("events_in", "dead_letters"))

    def close(self) -> None:
        """Flush the metrics."""
        self._metrics.flush()

    def process_element(self, value: str, ctx: ProcessFunction.Context) -> Any:
        """Yield the parsed event, or a dead-letter record to the side output."""
        self._metrics.add("events_in")
        try:
            yield tuple(parse_event(value, self._contract))  # a plain tuple pickles faster than the NamedTuple
        except EventError as error:
            self._metrics.add("dead_letters")
            self._metrics.add_code(error.code)
            record = dead_letter(
                value,
                error,
                source=self._source,
                received_at=utc_now(),
                job_version=job_version,
                model_version=self._model_version,
            )
            yield DEAD_LETTERS, to_json(record)


class EventTime(TimestampAssigner):  # type: ignore[misc]
    """The event's own time (``event_time_ms``) is the Flink record timestamp."""

    def extract_timestamp(self, value: tuple[Any, ...], record_timestamp: int) -> int:
        """Epoch milliseconds of the event."""
        return int(value[EVENT_TIME])


class ScoreEvents(KeyedProcessFunction):  # type: ignore[misc]
    """Per customer, in event-time order: state from Flink, decision from the core, state back.

    Events wait in ``pending_events`` (``MapState`` by event time) until the watermark passes
    them, so each customer's events are scored in event-time order (ties in arrival order),
    as the batch features replay them. An event already behind the watermark (late) is
    scored at once against the state as it stands and flagged ``late``; none is dropped.
    ``customer_state`` (``ValueState``) holds the core's versioned serialized
    ``CustomerState``; both expire after ``state_ttl_days`` without events.
    """

    def __init__(
        self,
        rules: RulesConfig,
        model: str | ModelBundle | None,
        *,
        source: str,
        model_required: bool,
        rules_only_threshold: float,
        state_ttl_days: float,
    ) -> None:
        self._rules = rules
        self._model = model
        self._source = source
        self._model_required = model_required
        self._rules_only_threshold = rules_only_threshold
        self._state_ttl_ms = int(state_ttl_days * 86_400_000)
        self._bundle: ModelBundle | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        """Create the state handles, load and warm up the bundle, register the metrics."""
        ttl = StateTtlConfig.new_builder(Time.milliseconds(self._state_ttl_ms)).build()
        customer = ValueStateDescriptor("customer_state", Types.PICKLED_BYTE_ARRAY())
        customer.enable_time_to_live(ttl)
        pending = MapStateDescriptor("pending_events", Types.LONG(), Types.PICKLED_BYTE_ARRAY())
        pending.enable_time_to_live(ttl)
        seen = MapStateDescriptor("seen_transactions", Types.STRING(), Types.BOOLEAN())
        seen.enable_time_to_live(ttl)
        self._customer = runtime_context.get_state(customer)
        self._pending = runtime_context.get_map_state(pending)
        self._seen = runtime_context.get_map_state(seen)
        # The newest timer fired so far: the watermark has passed it for every key of this
        # task (timers fire in time order), so an event at or before it is late. Kept here
        # instead of asking Flink for the watermark on every event.
        self._passed = -(2**63)
        self._bundle = load_bundle(self._model, required=self._model_required)
        if self._bundle is not None:
            warm_up(self._bundle)
        version = self._bundle.manifest.model_version if self._bundle is not None else RULES_ONLY_VERSION
        self._model_version = version
        self._metrics = FlinkCounters(runtime_context, ("events_scored", "alerts", "late_events", "dead_letters"))
        loaded = 1 if self._bundle is not None else 0
        self._metrics.group.add_group("model_version", version).gauge("model_loaded", lambda: loaded)
        self._latency = self._metrics.group.distribution("scoring_latency_us")

    def close(self) -> None:
        """Flush the metrics."""
        self._metrics.flush()

    def process_element(self, value: tuple[Any, ...], ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        """Hold the event until the watermark passes it; score it at once if it is late.

        A ``transaction_id`` this customer already sent is dead-lettered as a duplicate.
        """
        transaction_id = value[TRANSACTION_ID]
        if self._seen.contains(transaction_id):
            yield DEAD_LETTERS, self._duplicate(Event._make(value))
            return
        self._seen.put(transaction_id, True)
        event_time = value[EVENT_TIME]
        if event_time <= self._passed:
            self._metrics.add("late_events")
            yield from self._score(Event._make(value), late=True)
            return
        waiting = self._pending.get(event_time)
        self._pending.put(event_time, [*waiting, value] if waiting else [value])
        ctx.timer_service().register_event_time_timer(event_time)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        """The watermark passed ``timestamp``: score the events waiting there, in arrival order."""
        self._passed = max(self._passed, timestamp)
        due = self._pending.get(timestamp)
        if not due:
            return
        self._pending.remove(timestamp)
        for value in due:
            yield from self._score(Event._make(value), late=False)

    def _duplicate(self, event: Event) -> str:
        error = DuplicateEventError(f"transaction {event.transaction_id} was seen before", field="transaction_id")
        self._metrics.add("dead_letters")
        self._metrics.add_code(error.code)
        record = dead_letter(
            to_json(event.to_dict()),
            error,
            source=self._source,
            received_at=utc_now(),
            job_version=job_version,
            model_version=self._model_version,
        )
        return to_json(record)

    def _score(self, event: Event, *, late: bool) -> Iterator[Any]:
        started = time.perf_counter_ns()
        stored = self._customer.value()
        state = CustomerState.from_bytes(stored) if stored is not None else None
        decision = score_event(
            state,
            event,
            self._rules,
            self._bundle,
            rules_only_threshold=self._rules_only_threshold,
            scored_at=utc_now(),
            late=late,
        )
        self._customer.update(decision.state.to_bytes())
        self._metrics.add("events_scored")
        if self._metrics.counts.values["events_scored"] % LATENCY_SAMPLE_EVERY == 0:
            self._latency.update((time.perf_counter_ns() - started) // 1_000)
        yield to_json(decision.scored)
        if decision.alert is not None:
            self._metrics.add("alerts")
            yield ALERTS, to_json(decision.alert)


class FlinkCounters:
    """Counters kept in Python and added to Flink's in batches (each Flink call crosses to the JVM)."""

    FLUSH_EVERY = 512

    def __init__(self, runtime_context: RuntimeContext, names: tuple[str, ...]) -> None:
        self.group = runtime_context.get_metrics_group().add_group(METRIC_GROUP)
        self.counts = MetricCounts(names)
        self._flink = {name: self.group.counter(name) for name in names}
        self._by_code: dict[str, Any] = {}
        self._since_flush = 0

    def add(self, name: str) -> None:
        """Count one; flush to Flink every ``FLUSH_EVERY`` additions."""
        self.counts.add(name)
        self._since_flush += 1
        if self._since_flush >= self.FLUSH_EVERY:
            self.flush()

    def add_code(self, code: str) -> None:
        """Count one dead letter under its error code."""
        self.counts.add_code(code)

    def flush(self) -> None:
        """Add what was counted since the last flush to Flink's counters."""
        for name, delta in self.counts.drain().items():
            self._flink[name].inc(delta)
        for code, delta in self.counts.drain_codes().items():
            if code not in self._by_code:
                self._by_code[code] = self.group.add_group("dead_letters_by_code", code).counter("count")
            self._by_code[code].inc(delta)
        self._since_flush = 0


def load_bundle(model: str | ModelBundle | None, *, required: bool) -> ModelBundle | None:
    """The model bundle, or ``None`` (rules only) said loudly; a required one must load."""
    if isinstance(model, ModelBundle):
        return model
    if not model:
        if required:
            raise ModelRequiredError("stream.model.required is true but no model bundle is configured")
        logger.warning("No model bundle configured: scoring with rules only")
        return None
    try:
        return ModelBundle.load(model)
    except ModelError as error:
        if required:
            raise ModelRequiredError(f"model bundle {model} is unusable ({error.code}): {error}") from error
        logger.error("MODEL NOT LOADED (%s): %s; scoring with rules only", error.code, error)
        return None


class ModelRequiredError(RuntimeError):
    """``stream.model.required`` is set and no usable bundle is there: the job must not start."""

    code = "model_required"


def warm_up(bundle: ModelBundle) -> None:
    """Compile the bundle's tree walks before the first event (numba compiles on first use)."""
    zeros = [0.0] * len(bundle.manifest.feature_names)
    bundle.ml_score(zeros)
    bundle.top_contributions(zeros)


def build_job(
    env: StreamExecutionEnvironment,
    config: StreamConfig,
    *,
    source: Any,
    source_name: str,
    outputs: Outputs,
    model: str | ModelBundle | None,
) -> str:
    """Wire source, parse, event time, key by customer, score and the three sinks into ``env``.

    The bundle is loaded here first, so a required one that is missing fails before the job
    starts. Returns the model version the job scores with.
    """
    job = config.job
    bundle = load_bundle(model, required=job.model.required)  # fail at start, not in a task
    model_version = bundle.manifest.model_version if bundle is not None else RULES_ONLY_VERSION
    lines = env.from_source(source, WatermarkStrategy.no_watermarks(), "raw-events").uid("raw-events")
    events = (
        lines.process(ParseEvents(config.contract, source_name, model_version), output_type=Types.PICKLED_BYTE_ARRAY())
        .uid("parse-events")
        .name("parse-events")
    )
    timed = (
        events.assign_timestamps_and_watermarks(event_time_strategy(job))
        .uid("event-time-watermarks")
        .name("event-time-watermarks")
    )
    scored = (
        timed.key_by(itemgetter(CUSTOMER_ID), key_type=Types.STRING())
        .process(
            ScoreEvents(
                config.rules,
                model,
                source=source_name,
                model_required=job.model.required,
                rules_only_threshold=job.rules_only_threshold,
                state_ttl_days=job.state_ttl_days,
            ),
            output_type=Types.STRING(),
        )
        .uid("score-events")
        .name("score-events")
    )
    sink = _kafka_sink if job.io == "kafka" else _file_sink
    sink(scored, outputs.scored, "scored", job)
    sink(scored.get_side_output(ALERTS), outputs.alerts, "alerts", job)
    dead_letters = events.get_side_output(DEAD_LETTERS).union(scored.get_side_output(DEAD_LETTERS))
    sink(dead_letters, outputs.dead_letters, "dlq", job)
    return model_version


def event_time_strategy(job: JobSettings) -> WatermarkStrategy:
    """Bounded out-of-orderness watermarks on the event time.

    No ``with_idleness``: with PyFlink 2.3's Python timestamp assigner it stopped the
    watermark for good once the source went quiet (seen with a followed folder).
    """
    timing = job.event_time
    return WatermarkStrategy.for_bounded_out_of_orderness(
        Duration.of_millis(int(timing.max_out_of_orderness_seconds * 1000))
    ).with_timestamp_assigner(EventTime())


def file_source(paths: list[Path], *, follow_seconds: float | None = None) -> Any:
    """Text lines of the given files (read in the given order), or of a watched folder."""
    builder = FileSource.for_record_stream_format(StreamFormat.text_line_format(), *map(str, paths))
    if follow_seconds is not None:
        builder = builder.monitor_continuously(Duration.of_millis(int(follow_seconds * 1000)))
    return builder.build()


def kafka_source(job: JobSettings) -> Any:
    """The transactions topic, from the committed offsets (the earliest when there are none)."""
    from pyflink.datastream.connectors.kafka import KafkaOffsetResetStrategy, KafkaOffsetsInitializer, KafkaSource

    kafka = job.kafka
    offsets = {
        "committed": KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST),
        "earliest": KafkaOffsetsInitializer.earliest(),
        "latest": KafkaOffsetsInitializer.latest(),
    }[kafka.starting_offsets]
    return (
        KafkaSource.builder()
        .set_bootstrap_servers(kafka.bootstrap_servers)
        .set_topics(kafka.topics["transactions"])
        .set_group_id(kafka.group_id)
        .set_starting_offsets(offsets)
        .set_value_only_deserializer(SimpleStringSchema())
        .build()
    )


def _file_sink(stream: Any, folder: str, name: str, job: JobSettings) -> None:
    file_config = OutputFileConfig.builder().with_part_prefix(name).with_part_suffix(".jsonl").build()
    sink = FileSink.for_row_format(folder, Encoder.simple_string_encoder()).with_output_file_config(file_config).build()
    stream.sink_to(sink).uid(f"sink-{name}").name(f"sink-{name}")


def _kafka_sink(stream: Any, topic: str, name: str, job: JobSettings) -> None:
    from pyflink.datastream.connectors.base import DeliveryGuarantee
    from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink

    kafka = job.kafka
    sink = (
        KafkaSink.builder()
        .set_bootstrap_servers(kafka.bootstrap_servers)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic(topic)
            .set_value_serialization_schema(SimpleStringSchema())
            .build()
        )
        .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .set_transactional_id_prefix(f"{kafka.transactional_id_prefix}-{name}")
        .set_property("transaction.timeout.ms", str(kafka.transaction_timeout_ms))
        .build()
    )
    stream.sink_to(sink).uid(f"sink-{name}").name(f"sink-{name}")


def stream_environment(job: JobSettings, *, recover_from: str | None = None) -> StreamExecutionEnvironment:
    """The execution environment (a MiniCluster locally): execution mode, checkpoints, state backend."""
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"  # the Python workers find pyflink
    flink = Configuration()
    for key, value in flink_settings(job).items():
        flink.set_string(key, value)
    flink.set_string("python.executable", sys.executable)
    flink.set_string("python.client.executable", sys.executable)
    if recover_from:
        flink.set_string("execution.state-recovery.path", recover_from)
    env = StreamExecutionEnvironment.get_execution_environment(flink)
    env.set_runtime_mode(RuntimeExecutionMode.STREAMING)
    env.set_parallelism(job.parallelism)
    env.enable_checkpointing(job.checkpoint.interval_ms)
    if job.io == "kafka" and job.kafka.connector_jar:
        env.add_jars(job.kafka.connector_jar)
    return env
