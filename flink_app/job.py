"""The PyFlink job: raw lines in mini-batches (or one by one), one function that scores, three sinks.

The keyed function parses, drops repeats and scores; dead letters and alerts leave on side
outputs. The functions here only move data between Flink and plain Python tested without Flink
(``flink_app.records``: the output records; ``task_state``: slots and clock; ``metric_counts``):
they load state, call the records functions, store state, emit.
One keyed Python function, not a chain of them: in PyFlink's thread mode every extra Python
operator (a Python timestamp assigner, a separate parse step) costs more per event than the
whole scoring (see the flink_app README, Speed). The one exception is a model with merchant
features: the customer function hands each accepted event on to :class:`ScoreMerchants`, keyed
by merchant (ADR 0012).
"""

from __future__ import annotations

import logging
import marshal
import os
import struct
import sys
import time
from abc import abstractmethod
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import orjson
from pyflink.common import Configuration, Duration, Types, WatermarkStrategy
from pyflink.common.serialization import Encoder, SimpleStringSchema
from pyflink.common.time import Time
from pyflink.datastream import (
    DataStream,
    KeyedProcessFunction,
    MapFunction,
    OutputTag,
    RuntimeContext,
    RuntimeExecutionMode,
    StreamExecutionEnvironment,
)
from pyflink.datastream.connectors.file_system import (
    FileEnumeratorProvider,
    FileSink,
    FileSource,
    OutputFileConfig,
    RollingPolicy,
    StreamFormat,
)
from pyflink.datastream.connectors.hybrid_source import HybridSource
from pyflink.datastream.state import MapStateDescriptor, StateTtlConfig, ValueStateDescriptor
from pyflink.java_gateway import get_gateway

from flink_app.config import (
    JobSettings,
    KafkaSettings,
    StreamConfig,
    check_outcome_input,
    connector_path,
    flink_settings,
)
from flink_app.errors import ModelRequiredError, ShardCountChangedError
from flink_app.keying import (
    HANDOFF_TYPE,
    ORIGIN_SEPARATOR,
    SCORED_LINES_TYPE,
    explode_lines,
    kafka_jar,
    key_by_customer,
    landed_bytes,
    merchant_batches,
    mini_batches,
    routing_jar,
)
from flink_app.metric_counts import MetricCounts
from flink_app.records import dead_letter, deciding_version, explain, json_line, score_step, to_json, utc_now
from flink_app.scoring_step import (
    HandedOn,
    MerchantStep,
    StepResult,
    StreamStep,
    step_result,
    verdicts_of,
    waiting_outcomes,
)
from flink_app.task_state import EMPTY_SLOT, CustomerSlot, EventClock, Slot, SlotCache, freeze_startup_objects
from streamflow import __version__ as job_version
from streamflow.core import (
    DuplicateEventError,
    Event,
    EventError,
    UnroutableEventError,
    keyed_without_parser,
    parse_event,
)
from streamflow.core.errors import ConfigError
from streamflow.core.features import FeaturesConfig
from streamflow.core.forest import ModelBundle, ModelError
from streamflow.core.merchant import MERCHANT_STATE_VERSION
from streamflow.core.outcomes import Outcome, outcome_of_line
from streamflow.core.state import OUTCOME_INPUT, STATE_VERSION
from streamflow.core.windows import DEFAULT_WINDOWS

logger = logging.getLogger(__name__)

ALERTS = OutputTag("fraud-alerts", Types.STRING())
DEAD_LETTERS = OutputTag("dead-letters", Types.STRING())
METRIC_GROUP = "streamflow"
# the customer's new slot, the scored record (a JSON line, UTF-8; handing on: the merchant stage's payload), the alert
Scored = tuple[CustomerSlot, bytes, str | None]
# A merchant's slot: its serialized state; while outcomes wait for its events, (state, waiting OUTCOME_INPUT records).
MerchantSlot = bytes | tuple[bytes, bytes]
OUTCOME_BYTES = OUTCOME_INPUT.itemsize
Admitted = TypeVar("Admitted", Event, Outcome)  # a parsed line: an event or an outcome
LANDED_CHARSET = "ISO-8859-1"  # raw lines travel as their bytes, one character each (keying.landed_bytes)
LATENCY_SAMPLE_EVERY = 16  # one scoring-latency sample per this many events (each costs a JVM call)
HANDOFF_MARSHAL_VERSION = 4  # the merchant stage's payloads (handoff_payload), checkpointed while they wait
_FRAME_HEADER = struct.Struct("<iHq")  # a handed-on event's payload length, merchant id length, stamp


@dataclass(frozen=True)
class Outputs:
    """Where the three outputs go: folders (files) or topics (Kafka)."""

    scored: str
    alerts: str
    dead_letters: str


class ModelScoring(KeyedProcessFunction):  # type: ignore[misc]
    """What every scoring function reads from config to score with the model, and its metrics' flush on close."""

    def __init__(self, config: StreamConfig, model: str | ModelBundle | None) -> None:
        job = config.job
        self._rules = config.rules
        self._features_config = config.features
        self._model = model
        self._model_required = job.model.required
        self._rules_only_threshold = job.rules_only_threshold
        self._state_ttl_ms = int(job.state_ttl_days * 86_400_000)
        self._execution_mode = job.python_execution_mode
        self._metrics: FlinkCounters

    def close(self) -> None:
        """Flush the metrics."""
        self._metrics.flush()


class ScoringFunction(ModelScoring):
    """Per customer, in arrival order: parse, drop repeats, score, keep the state.

    Each raw line is parsed with the core parser (rejects go to the dead-letter output with
    their code; so does a line whose key came from a JSON parser and differs from the parser's
    ``customer_id``), checked against the customer's recent transaction ids (a repeat is
    dead-lettered as ``duplicate_transaction_id``) and scored at once against the customer's
    state: no event waits for a timer. An event older than its customer's newest one by more
    than ``max_out_of_orderness`` is still scored, flagged ``late`` and counted. The task's
    watermark (newest event time minus the bound) is a gauge for the latency objective.

    A line that begins with its origin and a newline (the Kafka source's
    ``kafka:<topic>/<partition>@<offset>``, ``KafkaLines.java``; ``labels:<path>`` for the lines
    of ``--labels``, ``JsonLinesFormat.java``) names it in its dead letter's ``source``; otherwise a
    dead letter names ``source``. A line whose origin begins with one of ``outcome_origins`` is an
    outcome of the label contract (``core.outcomes``): checked, dead-lettered with its code if it
    breaks the contract; else, when the model reads ``customer_fraud_known_30d``, it waits in its
    customer's slot until the customer's next event after its ``labelled_at`` (ADR 0014), and with
    a merchant stage it is handed on to it (``merchant_fraud_*``); a model that reads no outcome
    leaves it checked and counted only.

    A customer's state is a :data:`CustomerSlot`: the core's versioned serialized
    ``CustomerState`` and the ids seen within the dedup window; it expires after
    ``state_ttl_days`` without events. ``flink_app.scoring_step.StreamStep`` runs the core's step on
    the packed slot in one compiled call (ADR 0007). Subclasses hold the slots in Flink state
    and take the lines one by one (:class:`ScoreEvents`) or in mini-batches (:class:`ScoreMiniBatches`).
    """

    def __init__(
        self,
        config: StreamConfig,
        model: str | ModelBundle | None,
        *,
        source: str,
        outcome_origins: tuple[str, ...] = (),
    ) -> None:
        super().__init__(config, model)
        job = config.job
        self._contract = config.contract
        self._source = source
        self._outcome_origins = outcome_origins
        self._bound_ms = job.event_time.max_out_of_orderness_ms
        self._dedup_window_ms = job.event_time.dedup_window_ms
        self._bundle: ModelBundle | None = None
        # merchant features: hand each accepted event on to the merchant stage (ADR 0012)
        self._hands_on = bool(config.features.feature_set.merchant_names)

    def open(self, runtime_context: RuntimeContext) -> None:
        """Create the state handle, load and warm up the bundle, register the metrics."""
        self._open_state(runtime_context)
        # The task's watermark, for the gauge. Kept in the task, not in Flink state: after a
        # restart it starts again from the first event.
        self._clock = EventClock(self._bound_ms)
        self._features = self._features_config.feature_set  # compiled here, in the task's interpreter
        self._bundle, problem = load_bundle(self._model, self._features_config, required=self._model_required)
        self._step = StreamStep(
            self._rules,
            None if self._hands_on else self._bundle,  # with merchant features, the merchant stage walks the trees
            self._features,
            max_out_of_orderness_ms=self._bound_ms,
            dedup_window_ms=self._dedup_window_ms,
        )
        version = deciding_version(self._bundle)
        self._model_version = version
        self._metrics = FlinkCounters(
            runtime_context,
            (
                "events_in",
                "events_scored",
                "alerts",
                "late_events",
                "dead_letters",
                "outcomes_in",
                "outcome_read_too_late",
            ),
        )
        loaded = 1 if self._bundle is not None else 0
        self._metrics.group.add_group("model_version", version).gauge("model_loaded", lambda: loaded)
        if problem is not None:  # a bundle was configured and could not be used: alert on this gauge
            self._metrics.group.add_group("model_error", problem.code).gauge("model_load_failed", lambda: 1)
        self._metrics.group.gauge("watermark_ms", lambda: self._clock.watermark_ms or 0)
        self._latency = self._metrics.group.distribution("scoring_latency_us")
        self._counts = self._metrics.counts.values  # counted here, added to Flink's every FLUSH_EVERY events
        freeze_startup_objects()

    @abstractmethod
    def _open_state(self, runtime_context: RuntimeContext) -> None:
        """Create the handles of the state the slots live in (each subclass its own)."""

    def _state_ttl(self) -> StateTtlConfig:
        return StateTtlConfig.new_builder(Time.milliseconds(self._state_ttl_ms)).build()

    def _origin(self, line: str) -> tuple[str, str]:
        """Where ``line`` came from (a dead letter's ``source``) and the raw line itself.

        A raw line holds no newline: one that does begins with its origin.
        """
        origin, separator, value = line.partition(ORIGIN_SEPARATOR)
        return (origin, value) if separator else (self._source, line)

    def _is_outcome(self, source: str) -> bool:
        """Whether a line from ``source`` is an outcome (a line of ``--labels``, a record of the outcomes topic)."""
        return bool(self._outcome_origins) and source.startswith(self._outcome_origins)

    def _admit(self, value: str, current_key: Callable[[], str], received_at_ms: int, source: str) -> Event | str:
        """The parsed event, or its dead-letter record: unparseable, from the future, or keyed by another customer id.

        ``value`` is the raw line as the source carries it (its landed bytes, one character each),
        ``source`` where it came from.
        """
        raw = landed_bytes(value)
        try:
            event = parse_event(raw, self._contract, received_at_ms=received_at_ms)
        except EventError as error:
            return self._dead_letter(raw, error, source)
        return self._routed(value, raw, event, current_key, source)

    def _admit_outcome(
        self, value: str, current_key: Callable[[], str], received_at_ms: int, source: str
    ) -> Outcome | str:
        """The parsed outcome, or its dead-letter record: against the label contract, or keyed as another customer."""
        self._counts["outcomes_in"] += 1
        raw = landed_bytes(value)
        try:
            outcome = outcome_of_line(
                raw, received_at_ms=received_at_ms, tolerance_ms=self._contract.future_tolerance_ms
            )
        except EventError as error:
            return self._dead_letter(raw, error, source)
        return self._routed(value, raw, outcome, current_key, source)

    def _routed(
        self, value: str, raw: bytes, parsed: Admitted, current_key: Callable[[], str], source: str
    ) -> Admitted | str:
        """``parsed``, or the dead-letter record of a line keyed by a JSON parser as another customer than its own."""
        if not keyed_without_parser(value):  # the key came from a JSON parser: check it
            key = current_key()
            if key != parsed.customer_id:
                unroutable = UnroutableEventError(f"keyed as {key!r}, not by its customer_id", field="customer_id")
                return self._dead_letter(raw, unroutable, source)
        return parsed

    def _score(
        self, value: str, event: Event, stored: CustomerSlot | None, source: str, scored_at: str
    ) -> Scored | str:
        """The customer's new slot, the scored record and the alert (or ``None``); a repeat's dead-letter record.

        Handing on to the merchant stage, the merchant stage's payload stands for the scored record.
        """
        slot = stored if stored is not None else EMPTY_SLOT
        waiting = slot[2] if len(slot) == 3 else b""
        step_of = self._step.hand_on if self._hands_on else self._step
        step: StepResult | HandedOn | None = step_of(slot[0], slot[1], event, waiting)
        if step is None:
            return self._duplicate(value, event, source)
        self._clock.observe(event.event_time_ms)
        counts = self._counts
        counts["late_events"] += step.late
        if waiting:  # outcomes from another topic can come after later events (Kafka): batch's counted them
            counts["outcome_read_too_late"] += self._step.outcomes_read_too_late
        new_slot: CustomerSlot = (step.state, step.ids, step.waiting) if step.waiting else (step.state, step.ids)
        if isinstance(step, HandedOn):
            payload = handoff_payload(event, step.late, step.event_input, step.customer_features, step.signals)
            return new_slot, payload, None
        scored, alert = self._recorded(event, step, scored_at)
        return new_slot, scored, alert

    def _recorded(self, event: Event, step: StepResult, scored_at: str) -> tuple[bytes, str | None]:
        """The scored record (a JSON line) and the alert (or ``None``) of a stepped event; counted."""
        scored, alert = score_step(event, step, self._rules, self._bundle, self._rules_only_threshold, scored_at)
        counts = self._counts
        counts["events_scored"] += 1
        if alert is None:
            return json_line(scored), None
        counts["alerts"] += 1
        return json_line(scored), to_json(alert)

    def _duplicate(self, value: str, event: Event, source: str) -> str:
        """The dead-letter record of an event whose transaction id its customer's ids hold."""
        duplicate = DuplicateEventError(f"transaction {event.transaction_id} was seen before", field="transaction_id")
        return self._dead_letter(landed_bytes(value), duplicate, source)

    def _awaiting(self, stored: CustomerSlot | None, outcome: Outcome) -> CustomerSlot | None:
        """The slot with ``outcome`` waiting for the customer's next event, if its features read outcomes; else none."""
        if not self._features.customer_outcome_names:
            return None
        slot = stored if stored is not None else EMPTY_SLOT
        return slot[0], slot[1], _waiting(slot, [(outcome.labelled_at_ms, outcome.is_fraud)])

    def _dead_letter(self, payload: bytes, error: EventError, source: str) -> str:
        self._counts["dead_letters"] += 1
        self._metrics.add_code(error.code)
        record = dead_letter(
            payload,
            error,
            source=source,
            received_at=utc_now(),
            job_version=job_version,
            model_version=self._model_version,
        )
        return to_json(record)


class ScoreEvents(ScoringFunction):
    """One call per event, lines keyed by ``customer_id`` (``flink_app.keying``; ``keying: jvm|python``).

    One ``ValueState`` per customer holds its slot: one state read and one write per event, each
    a call from the embedded interpreter into the JVM.
    """

    def _open_state(self, runtime_context: RuntimeContext) -> None:
        slot = ValueStateDescriptor("customer", Types.PICKLED_BYTE_ARRAY())
        slot.enable_time_to_live(self._state_ttl())
        self._slot = runtime_context.get_state(slot)

    def process_element(self, value: str, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        """Yield the scored event (and its alert), or one dead-letter record."""
        counts = self._counts
        source, line = self._origin(value)
        if self._is_outcome(source):  # no merchant stage: the customer's state, or checked and counted
            labelled = self._admit_outcome(line, ctx.get_current_key, time.time_ns() // 1_000_000, source)
            if isinstance(labelled, str):
                yield DEAD_LETTERS, labelled
                return
            awaiting = self._awaiting(self._slot.value(), labelled)
            if awaiting is not None:
                self._slot.update(awaiting)
            return
        counts["events_in"] += 1
        sampled = counts["events_in"] % LATENCY_SAMPLE_EVERY == 0
        started = time.perf_counter_ns() if sampled else 0
        event = self._admit(line, ctx.get_current_key, time.time_ns() // 1_000_000, source)
        if isinstance(event, str):
            yield DEAD_LETTERS, event
            return
        outcome = self._score(line, event, self._slot.value(), source, utc_now())
        if isinstance(outcome, str):
            yield DEAD_LETTERS, outcome
            return
        slot, scored, alert = outcome
        self._slot.update(slot)
        if sampled:
            self._latency.update((time.perf_counter_ns() - started) // 1_000)
            if counts["events_in"] % FlinkCounters.FLUSH_EVERY == 0:
                self._metrics.flush()
        yield scored.decode()
        if alert is not None:
            yield ALERTS, alert


class ScoreMiniBatches(ScoringFunction):
    """A mini-batch per call (``keying: mini_batch``, ADR 0009): one Python call per batch, not per event.

    Batches come from ``MiniBatchLines.java``, keyed by shard of ``customer_id``: each holds
    lines of that shard's customers in arrival order (``[key, line, key, line, ...]``). The lines
    are parsed one by one; the accepted events are stepped in one compiled call
    (``StreamStep.batch``), each customer's in arrival order, as :class:`ScoreEvents` steps them.
    The shard's ``MapState`` holds one :data:`CustomerSlot` per customer (its TTL per customer):
    each customer's slot is read once per batch (from a :class:`SlotCache` of what the task last
    wrote, if there) and all are written back in one call. The scored records leave as one byte
    array, JSON lines (one record each again in the JVM); alerts and dead letters one by one. The
    latency histogram takes each batch's scoring time per event.

    With merchant features, the batches are stamped (``[key, stamp, line, ...]``) and the
    function hands each accepted event on to the merchant stage instead of scoring it
    (:func:`handoff_payload`), as frames of bytes (:func:`handoff_frame`), one array a batch.

    A shard is only a fixed bucket of customers (CRC-32 of the id modulo ``shards``), so that
    one call serves many; each customer's slot is keyed by its id in the shard's map. Flink moves
    whole shards between tasks when the parallelism changes, so rescaling keeps every customer.
    The shard count is fixed for the state's life: each shard stores the count it was cut with,
    and a shard restored under another count fails the job (``state_shard_count_changed``).
    """

    def __init__(
        self,
        config: StreamConfig,
        model: str | ModelBundle | None,
        *,
        source: str,
        outcome_origins: tuple[str, ...] = (),
    ) -> None:
        super().__init__(config, model, source=source, outcome_origins=outcome_origins)
        self._cached_customers = config.job.mini_batch.cached_customers
        self._shards = config.job.mini_batch.shards
        self._width = 3 if self._hands_on else 2  # [key, stamp, line] when stamped for the merchant stage

    def _open_state(self, runtime_context: RuntimeContext) -> None:
        self._customers: ShardedSlots[CustomerSlot] = ShardedSlots(
            runtime_context, "customers", self._state_ttl_ms, self._shards, self._cached_customers, self._execution_mode
        )
        self._flushed_at = 0

    def process_element(self, value: Sequence[str], ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        """Yield the batch's alerts and dead letters, then its scored records as one byte array (``SCORED_LINES_TYPE``).

        Handing on to the merchant stage, it yields the batch's handed-on events as one array of frames instead.
        """
        started = time.perf_counter_ns()
        self._customers.check_shard(ctx.get_current_key())
        now_ms = time.time_ns() // 1_000_000
        counts = self._counts
        width, hands_on = self._width, self._hands_on
        order: list[bytes | int] = []  # in line order: a handed-on outcome's frame, or an accepted event's index
        events: list[Event] = []
        lines: list[tuple[str, str, int]] = []  # each accepted event's raw line, source and stamp
        arrived: dict[str, list[tuple[int, bool]]] = {}  # per customer, the outcomes of this batch it waits on
        for index in range(0, len(value), width):
            key = value[index]
            stamp = int(value[index + 1]) if hands_on else 0
            source, line = self._origin(value[index + width - 1])
            if self._is_outcome(source):
                labelled = self._admit_outcome(line, lambda key=key: key, now_ms, source)  # type: ignore[misc]
                if isinstance(labelled, str):
                    yield DEAD_LETTERS, labelled
                    continue
                if self._features.customer_outcome_names:
                    arrived.setdefault(labelled.customer_id, []).append((labelled.labelled_at_ms, labelled.is_fraud))
                if hands_on:
                    payload = marshal.dumps((labelled.labelled_at_ms, labelled.is_fraud), HANDOFF_MARSHAL_VERSION)
                    order.append(handoff_frame(labelled.store_id, stamp, payload))
                continue
            counts["events_in"] += 1
            event = self._admit(line, lambda key=key: key, now_ms, source)  # type: ignore[misc]
            if isinstance(event, str):
                yield DEAD_LETTERS, event
                continue
            order.append(len(events))
            events.append(event)
            lines.append((line, source, stamp))
        outputs = yield from self._stepped(events, lines, arrived, now_ms)
        merged = [item if isinstance(item, bytes) else outputs[item] for item in order]
        self._latency.update((time.perf_counter_ns() - started) // 1_000 // max(1, len(value) // width))
        if counts["events_in"] - self._flushed_at >= FlinkCounters.FLUSH_EVERY:
            self._metrics.flush()
            self._flushed_at = counts["events_in"]
        kept = [output for output in merged if output]
        if kept:
            yield b"".join(kept) if hands_on else b"\n".join(kept)

    def _stepped(
        self,
        events: list[Event],
        lines: list[tuple[str, str, int]],
        arrived: dict[str, list[tuple[int, bool]]],
        now_ms: int,
    ) -> Generator[Any, None, list[bytes]]:
        """Step the batch's events (one ``StreamStep.batch``) and keep each customer's new slot.

        Yields the repeats' dead letters and the alerts; returns each event's scored record, or its
        handed-on frame (empty for a repeat). A customer's outcomes of this batch wait in its slot
        before its events, as the merchant stage's do: each is folded at its first event after its
        ``labelled_at``. A customer with outcomes and no event keeps them waiting.
        """
        counts, hands_on = self._counts, self._hands_on
        customer_index: dict[str, int] = {}
        customer_of = [customer_index.setdefault(event.customer_id, len(customer_index)) for event in events]
        customers = list(customer_index)
        slots = [self._customers.get(customer, now_ms) or EMPTY_SLOT for customer in customers]
        new_slots: dict[str, CustomerSlot] = {}
        for customer, outcomes in arrived.items():
            if customer not in customer_index:
                stored = self._customers.get(customer, now_ms) or EMPTY_SLOT
                new_slots[customer] = (stored[0], stored[1], _waiting(stored, outcomes))
        waiting = []
        if arrived or any(len(slot) == 3 for slot in slots):
            waiting = [
                _waiting(slot, arrived.get(customer, ())) for customer, slot in zip(customers, slots, strict=True)
            ]
        batch = self._step.batch([slot[0] for slot in slots], [slot[1] for slot in slots], customer_of, events, waiting)
        still_waiting = batch.waiting or [b""] * len(customers)
        for customer, state, ids, left in zip(customers, batch.states, batch.ids, still_waiting, strict=True):
            new_slots[customer] = (state, ids, left) if left else (state, ids)
        self._customers.put_all(new_slots, now_ms)
        counts["outcome_read_too_late"] += batch.outcomes_read_too_late
        scored_at = utc_now()  # one stamp a batch: it is scored within a millisecond or two
        outputs: list[bytes] = []
        for index, event in enumerate(events):
            line, source, stamp = lines[index]
            if not batch.stepped[index]:
                yield DEAD_LETTERS, self._duplicate(line, event, source)
                outputs.append(b"")
                continue
            self._clock.observe(event.event_time_ms)
            late = batch.late[index]
            counts["late_events"] += late
            if hands_on:
                payload = handoff_payload(
                    event, late, batch.event_inputs[index], batch.features[index], batch.signals[index]
                )
                outputs.append(handoff_frame(event.store_id, stamp, payload))
                continue
            scored, alert = self._recorded(event, step_result(batch, index), scored_at)
            outputs.append(scored)
            if alert is not None:
                yield ALERTS, alert
        return outputs


def _waiting(slot: CustomerSlot, arrived: Sequence[tuple[int, bool]]) -> bytes:
    """The slot's waiting outcomes with those ``arrived``, by time."""
    return waiting_outcomes(slot[2] if len(slot) == 3 else b"", arrived)


def handoff_payload(event: Event, late: bool, event_input: bytes, customer_features: bytes, signals: bytes) -> bytes:
    """What the merchant stage needs of an accepted event (``marshal``).

    The event, its ``EVENT_INPUT`` record and customer features (``StreamStep.hand_on``), its
    ``SIGNALS`` record and whether it was late; an outcome's is ``(labelled_at_ms, is_fraud)``.
    ``marshal`` is the fastest encoding of these plain values. Events waiting in ``MerchantBatches``
    at a checkpoint are stored as these bytes, so the format is pinned: ``marshal`` version 4, which
    every Python 3 since 3.4 reads.
    """
    fields: Any = (tuple(event), event_input, customer_features, signals, late)
    return marshal.dumps(fields, HANDOFF_MARSHAL_VERSION)


def handoff_frame(store_id: str, stamp: int, payload: bytes) -> bytes:
    """One handed-on event as ``HandoffFrames.java`` reads it: header (payload and id lengths, stamp), id, payload."""
    store = store_id.encode("utf-8", "surrogatepass")
    return _FRAME_HEADER.pack(len(payload), len(store), stamp) + store + payload


def handed_on(frames: bytes) -> Iterator[tuple[str, int, bytes]]:
    """The merchant id, stamp and payload of each frame of ``frames`` (:func:`handoff_frame`), in order."""
    at, header = 0, _FRAME_HEADER.size
    while at < len(frames):
        payload_length, store_length, stamp = _FRAME_HEADER.unpack_from(frames, at)
        store_end = at + header + store_length
        yield (
            frames[at + header : store_end].decode("utf-8", "surrogatepass"),
            stamp,
            frames[store_end : store_end + payload_length],
        )
        at = store_end + payload_length


class ScoreMerchants(ModelScoring):
    """The merchant stage (ADR 0012): per merchant, in ingestion order, the merchant features, the model, the records.

    Batches come from ``MerchantBatches.java``, keyed by shard of ``store_id`` (the same fixed
    buckets as the customer stage's, of ``stream.mini_batch.shards``): the handed-on events as
    frames (:func:`handoff_frame`), each payload what :func:`handoff_payload` packed in the
    customer stage. The shard's ``MapState`` holds each merchant's serialized ``MERCHANT_STATE``;
    :class:`MerchantStep`, one compiled call a batch, decodes each merchant's state once, runs the
    core's merchant step for each event in order, puts the customer's and the merchant's features
    in the model's order, walks the trees and encodes each state once; the scored record and the
    alert are written as the customer-only job writes them. An event whose tile a scored event had already read
    (``core.merchant.read_too_late``) is scored and counted, ``merchant_read_too_late``: its merchant
    features may differ from batch's.

    Handed-on outcomes (ADR 0014) wait in their merchant's slot (:data:`MerchantSlot`) until an
    event of the merchant comes after their ``labelled_at``: then they are folded before it, the
    batch replay's rule (``core.merchant.fold_known_outcomes``). One folded after a scored event had
    read its tile is counted, ``outcome_read_too_late``.
    """

    def __init__(self, config: StreamConfig, model: str | ModelBundle | None) -> None:
        super().__init__(config, model)
        self._shards = config.job.mini_batch.shards
        self._cached_merchants = config.job.mini_batch.cached_customers

    def open(self, runtime_context: RuntimeContext) -> None:
        """Create the state handles, load the bundle, register the metrics."""
        features = self._features_config.feature_set
        self._bundle, _ = load_bundle(self._model, self._features_config, required=self._model_required)
        self._step = MerchantStep(self._bundle, features, merchant_lag_ms=self._features_config.merchant_lag_ms)
        self._merchants: ShardedSlots[MerchantSlot] = ShardedSlots(
            runtime_context, "merchants", self._state_ttl_ms, self._shards, self._cached_merchants, self._execution_mode
        )
        self._metrics = FlinkCounters(
            runtime_context,
            ("events_scored", "alerts", "merchant_read_too_late", "outcomes_folded", "outcome_read_too_late"),
        )
        self._latency = self._metrics.group.distribution("merchant_scoring_latency_us")
        self._counts = self._metrics.counts.values
        self._flushed_at = 0
        freeze_startup_objects()

    def process_element(self, value: bytes, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        """Yield the batch's alerts, then its scored records as one byte array (``SCORED_LINES_TYPE``)."""
        started = time.perf_counter_ns()
        self._merchants.check_shard(ctx.get_current_key())
        now_ms = time.time_ns() // 1_000_000
        scored_at = utc_now()  # one stamp a batch: it is scored within a millisecond or two
        counts = self._counts
        merchant_index: dict[str, int] = {}  # the merchants this batch touched, in order
        merchant_of: list[int] = []
        events: list[Any] = []
        arrived: dict[int, list[tuple[int, bool]]] = {}  # per merchant, the outcomes handed on in this batch
        for store, _, payload in handed_on(value):
            merchant = merchant_index.setdefault(store, len(merchant_index))
            fields = marshal.loads(payload)  # nosec B302 - written by this job's customer stage, never input
            if len(fields) == 2:  # an outcome: (labelled_at_ms, is_fraud)
                arrived.setdefault(merchant, []).append(fields)
                continue
            merchant_of.append(merchant)
            events.append(fields)
        merchants = list(merchant_index)
        slots = [self._merchants.get(store, now_ms) for store in merchants]
        stored = [slot[0] if isinstance(slot, tuple) else slot for slot in slots]
        waiting = self._waiting(slots, arrived)
        event_inputs, customer_features = [fields[1] for fields in events], [fields[2] for fields in events]
        batch = self._step(
            stored, merchant_of, event_inputs, customer_features, [fields[3] for fields in events], waiting
        )
        new_slots: list[MerchantSlot] = list(batch.states)
        if batch.waiting is not None:
            new_slots = [
                (state, left) if left else state for state, left in zip(batch.states, batch.waiting, strict=True)
            ]
            counts["outcomes_folded"] += (sum(map(len, waiting)) - sum(map(len, batch.waiting))) // OUTCOME_BYTES
            counts["outcome_read_too_late"] += batch.outcomes_read_too_late
        self._merchants.put_all(dict(zip(merchants, new_slots, strict=True)), now_ms)
        unscored: list[Any] = [None] * len(merchant_of)
        ml_scores, champion_scores = batch.ml_scores or unscored, batch.champion_scores or unscored
        champion_inputs = batch.champion_inputs or [b""] * len(merchant_of)
        scored_lines: list[bytes] = []
        for index, (fields, _, _, signals, late) in enumerate(events):
            fired_rules, rules_score = verdicts_of(signals)
            step = StepResult(
                late,
                batch.vectors[index],
                fired_rules,
                rules_score,
                None,
                signals,
                b"",
                b"",
                ml_scores[index],
                champion_scores[index],
                champion_inputs[index],
            )
            scored, alert = score_step(
                Event._make(fields), step, self._rules, self._bundle, self._rules_only_threshold, scored_at
            )
            scored_lines.append(json_line(scored))
            if alert is not None:
                counts["alerts"] += 1
                yield ALERTS, to_json(alert)
        counts["events_scored"] += len(merchant_of)
        counts["merchant_read_too_late"] += sum(batch.read_too_late)
        self._latency.update((time.perf_counter_ns() - started) // 1_000 // max(1, len(merchant_of)))
        if counts["events_scored"] - self._flushed_at >= FlinkCounters.FLUSH_EVERY:
            self._metrics.flush()
            self._flushed_at = counts["events_scored"]
        if scored_lines:
            yield b"\n".join(scored_lines)

    @staticmethod
    def _waiting(slots: list[MerchantSlot | None], arrived: dict[int, list[tuple[int, bool]]]) -> list[bytes]:
        """Each merchant's waiting outcomes with those arrived in the batch; none when no merchant has any."""
        if not arrived and not any(isinstance(slot, tuple) for slot in slots):
            return []
        return [
            waiting_outcomes(slot[1] if isinstance(slot, tuple) else b"", arrived.get(merchant, ()))
            for merchant, slot in enumerate(slots)
        ]


class ShardedSlots(Generic[Slot]):
    """A shard's entity slots: a ``MapState`` keyed by the entity's id, a cache of it, the shard count it was cut with.

    Each shard stores the ``stream.mini_batch.shards`` it was cut with; a shard restored under
    another count fails the job (``state_shard_count_changed``), since its entities would belong
    to other shards. ``execution_mode``: PyFlink's (``stream.python_execution_mode``), whose two
    ``MapState.put_all`` differ: thread mode's reads a dict, process mode's iterates (key, value) pairs.
    """

    def __init__(
        self, runtime_context: RuntimeContext, name: str, ttl_ms: int, shards: int, cached: int, execution_mode: str
    ) -> None:
        slots = MapStateDescriptor(name, Types.STRING(), Types.PICKLED_BYTE_ARRAY())
        slots.enable_time_to_live(map_state_ttl(ttl_ms))
        self._slots = runtime_context.get_map_state(slots)
        self._written_as_pairs = execution_mode == "process"
        self._cache: SlotCache[Slot] = SlotCache(cached, ttl_ms)
        self._shards = shards
        self._shard_count = runtime_context.get_state(ValueStateDescriptor("shard_count", Types.INT()))
        self._checked_shards: set[Any] = set()

    def check_shard(self, shard: Any) -> None:
        """Note the shard count in a new shard; refuse a shard cut with another count."""
        if shard in self._checked_shards:
            return
        stored = self._shard_count.value()
        if stored is None:
            self._shard_count.update(self._shards)
        elif stored != self._shards:
            raise ShardCountChangedError(
                f"[{ShardCountChangedError.code}] shard {shard} of the restored state was cut with "
                f"stream.mini_batch.shards {stored}, not {self._shards}: keep {stored}, or start from empty "
                "state (docs/runbooks.md, Scaling)"
            )
        self._checked_shards.add(shard)

    def get(self, entity_id: str, now_ms: int) -> Slot | None:
        """The entity's slot (``None`` for a new one), from the cache or the state."""
        return self._cache.get(entity_id, now_ms, self._slots.get)

    def put_all(self, slots: dict[str, Slot], now_ms: int) -> None:
        """Write the slots a batch changed, in one call."""
        if slots:
            self._slots.put_all(slots.items() if self._written_as_pairs else slots)
            self._cache.put_all(slots, now_ms)


def map_state_ttl(ttl_ms: int) -> StateTtlConfig:
    """Expired entries are dropped from snapshots and by RocksDB's compactions, not on access.

    Flink's default background cleanup for heap state scans a few keys' whole values on
    every state access: here a key's value is a shard's whole map, so each access would scan
    hundreds of entities (a fifth of the job's time here). Expired entries are never read (Flink
    checks each on access); on heap they leave memory at the next restore.
    """
    builder = StateTtlConfig.new_builder(Time.milliseconds(ttl_ms)).disable_cleanup_in_background()
    return builder.cleanup_full_snapshot().cleanup_in_rocksdb_compact_filter(1000).build()


class FlinkCounters:
    """Counters kept in Python and added to Flink's in batches (each Flink call crosses to the JVM)."""

    FLUSH_EVERY = 512  # events; a multiple of LATENCY_SAMPLE_EVERY

    def __init__(self, runtime_context: RuntimeContext, names: tuple[str, ...]) -> None:
        self.group = runtime_context.get_metrics_group().add_group(METRIC_GROUP)
        self.counts = MetricCounts(names)
        self._flink = {name: self.group.counter(name) for name in names}
        self._by_code: dict[str, Any] = {}

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


def load_bundle(
    model: str | ModelBundle | None, features: FeaturesConfig, *, required: bool
) -> tuple[ModelBundle | None, ModelError | None]:
    """The model bundle and ``None``; or, for rules only, ``None`` and why a configured bundle is unusable.

    A bundle trained on other ``features`` than the configured ones, or on merchant features
    behind another lag, is unusable (``model_feature_mismatch``).

    Rules only is said loudly (an error in the log; the job's ``model_load_failed`` gauge), and
    refused with :class:`ModelRequiredError` when ``required``: a missing, corrupt or tampered
    bundle then fails the job at its start.
    """
    if not model:
        if required:
            raise ModelRequiredError("stream.model.required is true but no model bundle is configured")
        logger.warning("No model bundle configured: scoring with rules only")
        return None, None
    try:
        bundle = model if isinstance(model, ModelBundle) else ModelBundle.load(model)
        bundle.check_features(features.names, features.merchant_lag_ms)
    except ModelError as error:
        if required:
            raise ModelRequiredError(f"model bundle {model} is unusable ({error.code}): {error}") from error
        logger.error("MODEL NOT LOADED [%s]: %s; scoring with rules only", error.code, error)
        return None, error
    return bundle, None


def compile_scoring(config: StreamConfig, model: str | None) -> str:
    """Compile the numba code the scoring functions' ``open`` needs into numba's cache; the model version.

    The bundle's walks and the steps (the merchant stage's too, with merchant features). The image
    build calls it (``python -m flink_app compile``) with the ``NUMBA_CACHE_DIR`` and
    ``NUMBA_CPU_NAME=generic`` its TaskManagers run with, so that they load the code instead of
    compiling it (about 20 s) at every start.
    """
    features = config.features.feature_set
    bundle, _ = load_bundle(model, config.features, required=model is not None)
    if bundle is not None:
        warm_up(bundle)
    event_time = config.job.event_time
    StreamStep(
        config.rules,
        None if features.merchant_names else bundle,
        features,
        max_out_of_orderness_ms=event_time.max_out_of_orderness_ms,
        dedup_window_ms=event_time.dedup_window_ms,
    )
    if features.merchant_names:
        MerchantStep(bundle, features, merchant_lag_ms=config.features.merchant_lag_ms)
    return deciding_version(bundle)


class ExplainAlerts(MapFunction):  # type: ignore[misc]
    """The explain stage: each pending alert with its top features (``records.explain``), in a task of its own.

    The champion's TreeSHAP costs about 500 us an alert at 100 trees (LightGBM's own predictor,
    called through ctypes, which lets go of the interpreter lock): here, in its own task thread,
    it runs beside the scoring, not in its turn. Alerts are a few percent of the events, so the
    JSON read and written again costs little.
    """

    def __init__(self, config: StreamConfig, model: str | ModelBundle | None) -> None:
        self._features_config = config.features
        self._model = model
        self._model_required = config.job.model.required

    def open(self, runtime_context: RuntimeContext) -> None:
        """Load the bundle and its explainers (a champion whose LightGBM cannot load fails the job here)."""
        self._bundle, _ = load_bundle(self._model, self._features_config, required=self._model_required)
        if self._bundle is not None:
            warm_up(self._bundle)

    def map(self, value: str) -> str:
        """The explained alert."""
        return to_json(explain(orjson.loads(value), self._bundle))


def explain_alerts(alerts: DataStream, config: StreamConfig, model: str | ModelBundle | None) -> DataStream:
    """The pending alerts explained (:class:`ExplainAlerts`), not chained to the scoring: a task thread of its own."""
    explained = alerts.map(ExplainAlerts(config, model), output_type=Types.STRING())
    return explained.uid("explain-alerts").name("explain-alerts").disable_chaining()


def warm_up(bundle: ModelBundle) -> None:
    """Compile the forest's one-row attribution and load the champion's TreeSHAP before the first alert.

    A bundle whose champion LightGBM cannot load fails here, at the start, not at its first alert.
    """
    bundle.top_contributions([0.0] * len(bundle.manifest.feature_names))
    champion = bundle.manifest.champion
    if champion is not None:
        bundle.champion_top_contributions([0.0] * len(champion.inputs))


def build_job(
    env: StreamExecutionEnvironment,
    config: StreamConfig,
    *,
    source: Any,
    source_name: str,
    outputs: Outputs,
    model: str | ModelBundle | None,
    outcomes: OutcomeInput | None = None,
) -> tuple[str, ModelError | None]:
    """Wire source, key by customer, the scoring function and the three sinks into ``env``.

    The bundle is loaded here first, so a required one that is missing or corrupt fails before
    the job starts. ``outcomes``: the job also reads outcomes (ADR 0014), whose lines join the
    events' before the customer stage. Returns the model version the job scores with, and why a
    configured bundle could not be used (the job then scores with rules only).

    Raises:
        ConfigError: The model reads known outcomes (``merchant_fraud_*``) and the job reads none.

    """
    job = config.job
    check_outcome_input(config.features, reads_outcomes=outcomes is not None)
    bundle, problem = load_bundle(model, config.features, required=job.model.required)  # fail at start, not in a task
    model_version = deciding_version(bundle)
    lines = env.from_source(source, WatermarkStrategy.no_watermarks(), "raw-events", Types.STRING()).uid("raw-events")
    outcome_origins = outcomes.origins if outcomes is not None else ()
    batching = job.mini_batch
    two_entities = bool(config.features.feature_set.merchant_names)
    windows = config.features.windows
    batches = None
    if job.keying == "mini_batch":
        batches = mini_batches(
            env,
            lines,
            batching.shards,
            batching.size,
            batching.allow_latency_ms,
            stamped=two_entities,
        )
    if batches is not None:
        function = ScoreMiniBatches(config, model, source=source_name, outcome_origins=outcome_origins)
        scoring = batches.process(function, output_type=HANDOFF_TYPE if two_entities else SCORED_LINES_TYPE)
        # The uid names the state version and the windows: state saved under others is refused, not
        # misread. The shard count is checked by the function (each shard stores it), so rescaling keeps the uid.
        scoring = scoring.uid(state_uid("score-mini-batches", STATE_VERSION, windows)).name("score-mini-batches")
        scorer = scoring
        if two_entities:  # the merchant stage scores (ADR 0012)
            merchants = merchant_batches(scoring, batching.shards, batching.size, batching.allow_latency_ms)
            scorer = merchants.process(ScoreMerchants(config, model), output_type=SCORED_LINES_TYPE)
            scorer = scorer.uid(state_uid("score-merchants", MERCHANT_STATE_VERSION, windows)).name("score-merchants")
        scored, alerts = explode_lines(scorer), scorer.get_side_output(ALERTS)
    elif two_entities:
        raise ConfigError("merchant features need the mini-batch topology, and it needs a JDK (javac) here")
    else:  # one line at a time (mini-batches without a JDK: keyed in Python, said by routing_jar)
        keying = "python" if job.keying == "mini_batch" else job.keying
        scoring = key_by_customer(env, lines, keying).process(
            ScoreEvents(config, model, source=source_name, outcome_origins=outcome_origins), output_type=Types.STRING()
        )
        scored = scoring = scoring.uid(state_uid("score-events", STATE_VERSION, windows)).name("score-events")
        alerts = scoring.get_side_output(ALERTS)
    sink = _kafka_sink if job.io == "kafka" else _file_sink
    sink(scored, outputs.scored, "scored", job)
    sink(explain_alerts(alerts, config, model), outputs.alerts, "alerts", job)
    sink(scoring.get_side_output(DEAD_LETTERS), outputs.dead_letters, "dlq", job)
    return model_version, problem


def state_uid(operator: str, version: int, windows: tuple[str, ...]) -> str:
    """The uid of a stateful operator: its name, its state's serialization version, and its windows if not the default.

    The windows' tiles mean something only under the lengths they were counted with, so state
    saved under other windows is refused as state of another version is (docs/runbooks.md).
    """
    uid = f"{operator}-v{version}"
    return uid if windows == DEFAULT_WINDOWS else f"{uid}-{'-'.join(windows)}"


@dataclass(frozen=True)
class OutcomeInput:
    """The outcomes the job reads (ADR 0014): lines of the label contract in the events' source, told by their origin.

    ``origins``: the origins outcome lines begin with (``labels:``, the files of ``--labels`` read
    first by :func:`file_source`; ``kafka:<outcomes topic>/``, the topic beside the transactions').
    """

    origins: tuple[str, ...]


def file_source(
    env: StreamExecutionEnvironment,
    paths: list[Path],
    *,
    follow_seconds: float | None = None,
    first: tuple[str, list[Path]] | None = None,
) -> Any:
    r"""Raw lines of the given files, one file after the other in the given order; or of a watched folder.

    Lines are split by the landing contract and carried as their bytes (``JsonLinesFormat.java``;
    ``.gz`` files decompressed by Flink); a watched folder reads only the files the contract
    reads (``JsonLinesFiles.java``). One ``FileSource`` over several files hands them out in no
    set order (its split assigner), which would replay a landing zone's days shuffled; a
    ``HybridSource`` chains one source per file instead. A watched folder reads the files of one
    scan in no set order. Without a JDK, Flink's own line reader stands in, said loudly: it also
    splits at a bare ``\r``.

    ``first``: an origin and files read before all the others, each of their lines after the
    origin and a newline (the outcomes of ``--labels``, ADR 0014: all known before any event comes).

    Raises:
        ConfigError: ``first`` without a JDK (the origin needs ``JsonLinesFormat``).

    """
    jar = routing_jar()
    if jar is None:
        if first is not None:
            raise ConfigError("--labels needs the job's Java classes (JsonLinesFormat), and they need a JDK (javac)")
        logger.warning(r"No JDK: lines are split by Flink's text reader, which also ends a line at a bare \r")
        lines, files = StreamFormat.text_line_format("ISO-8859-1"), None
    else:
        env.add_jars(jar.as_uri())
        flink: Any = get_gateway().jvm.io.streamflow.flink
        lines, files = StreamFormat(flink.JsonLinesFormat()), FileEnumeratorProvider(flink.JsonLinesFiles())
    leading = []
    if first is not None:
        origin, first_paths = first
        tagged = StreamFormat(flink.JsonLinesFormat(origin))
        leading = [FileSource.for_record_stream_format(tagged, str(path)).build() for path in first_paths]
    if follow_seconds is not None:
        builder = FileSource.for_record_stream_format(lines, *map(str, paths))
        if files is not None:
            builder = builder.set_file_enumerator(files)
        watched = builder.monitor_continuously(Duration.of_millis(int(follow_seconds * 1000))).build()
        return _chained([*leading, watched])
    return _chained([*leading, *(FileSource.for_record_stream_format(lines, str(path)).build() for path in paths)])


def _chained(sources: list[Any]) -> Any:
    """One source reading ``sources`` one after the other (``HybridSource``)."""
    if len(sources) == 1:
        return sources[0]
    chain = HybridSource.builder(sources[0])
    for source in sources[1:]:
        chain = chain.add_source(source)
    return chain.build()


def kafka_source(env: StreamExecutionEnvironment, job: JobSettings, *, until_end: bool = False) -> Any:
    """The transactions topic from the committed offsets (else the earliest), and the outcomes topic if read.

    Each record reaches the job as its value's bytes, one character each (``LANDED_CHARSET``), after
    its origin, ``kafka:<topic>/<partition>@<offset>`` and a newline (``KafkaLines.java``, compiled
    against the connector), so a dead letter names the record it came from. Without a JDK to
    compile it, PyFlink's value-only deserializer carries the bytes alone (said loudly) and dead
    letters name the topic only. The reader is ``read_committed`` (the connector's default): it
    never sees records of an aborted or open transaction. With ``until_end``, the job reads up to
    the offsets that are the end of each partition at its start, then finishes (tests, the demo,
    the benchmark); otherwise it runs until stopped. With ``stream.kafka.read_outcomes``, the
    same source reads the outcomes topic too (:func:`kafka_outcomes`): its records are told apart
    by their origin, so it needs ``KafkaLines`` (a JDK).
    """
    from pyflink.datastream.connectors.kafka import KafkaOffsetResetStrategy, KafkaOffsetsInitializer, KafkaSource

    kafka = job.kafka
    offsets = {
        "committed": KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST),
        "earliest": KafkaOffsetsInitializer.earliest(),
        "latest": KafkaOffsetsInitializer.latest(),
    }[kafka.starting_offsets]
    builder = (
        KafkaSource.builder()
        .set_bootstrap_servers(kafka.bootstrap_servers)
        .set_topics(*kafka_topics_read(kafka))
        .set_group_id(kafka.group_id)
        .set_starting_offsets(offsets)
    )
    jar = kafka_jar(Path(connector_path(kafka)))
    if jar is not None:
        env.add_jars(jar.as_uri())
        builder._j_builder.setDeserializer(get_gateway().jvm.io.streamflow.flink.kafka.KafkaLines())
    elif kafka.read_outcomes:
        raise ConfigError("stream.kafka.read_outcomes needs KafkaLines, compiled with a JDK (javac): none here")
    else:
        logger.warning("No JDK: Kafka records are read by value only; dead letters name the topic, not the offset")
        builder = builder.set_value_only_deserializer(SimpleStringSchema(LANDED_CHARSET))  # the bytes, one each
    if until_end:
        builder = builder.set_bounded(KafkaOffsetsInitializer.latest())
    for name, value in kafka.properties.items():
        builder = builder.set_property(name, value)
    return builder.build()


def kafka_topics_read(kafka: KafkaSettings) -> list[str]:
    """The topics the job reads: the transactions', and the outcomes' with ``read_outcomes``."""
    return [kafka.topics["transactions"], *([kafka.outcomes_topic] if kafka.read_outcomes else [])]


def kafka_outcomes(kafka: KafkaSettings) -> OutcomeInput | None:
    """With ``read_outcomes``, the outcomes topic's records: their origin is ``kafka:<topic>/<partition>@<offset>``."""
    return OutcomeInput((f"kafka:{kafka.outcomes_topic}/",)) if kafka.read_outcomes else None


def _file_sink(stream: Any, folder: str, name: str, job: JobSettings) -> None:
    """Part files rolled at every checkpoint: what a checkpoint covers is committed (visible) when it completes.

    Flink's default policy rolls a part file only after 60 s or 128 MB, so readers (gold's alerts,
    the DLQ monitor) would wait a minute or more for records already safe in a checkpoint.
    """
    file_config = OutputFileConfig.builder().with_part_prefix(name).with_part_suffix(".jsonl").build()
    builder = FileSink.for_row_format(folder, Encoder.simple_string_encoder()).with_output_file_config(file_config)
    sink = builder.with_rolling_policy(RollingPolicy.on_checkpoint_rolling_policy()).build()
    stream.sink_to(sink).uid(f"sink-{name}").name(f"sink-{name}")


def _kafka_sink(stream: Any, topic: str, name: str, job: JobSettings) -> None:
    from pyflink.datastream.connectors.base import DeliveryGuarantee
    from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink

    kafka = job.kafka
    builder = (
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
    )
    for property_name, value in kafka.properties.items():
        builder = builder.set_property(property_name, value)
    stream.sink_to(builder.build()).uid(f"sink-{name}").name(f"sink-{name}")


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
    if job.io == "kafka":
        env.add_jars(Path(connector_path(job.kafka)).as_uri())
    return env
