"""Plain, Flink-free logic of the stream: scoring one event and building output records.

The Flink functions in ``flink_app.job`` only load state, call these, store state and
emit what they return; tests drive these directly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from flink_app.scoring_step import StepResult, signals_of
from streamflow.core import Event, EventError, RuleResult, RulesConfig
from streamflow.core.features import event_rule_results
from streamflow.core.forest import ModelBundle

PAYLOAD_LIMIT_BYTES = 10_240
RULES_ONLY_VERSION = "rules-only"


def score_step(
    event: Event,
    step: StepResult,
    rules: RulesConfig,
    bundle: ModelBundle | None,
    rules_only_threshold: float,
    scored_at: str,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The scored record and the alert for an event ``StreamStep`` stepped.

    An alert's reasons are written from the same step's signals (``signals_of``).
    """
    depth = step.depth
    scored = scored_record(
        event,
        step.features,
        step.fired_rules,
        step.rules_score,
        None if bundle is None or depth is None else bundle.ml_score_of_depth(depth),
        bundle,
        rules_only_threshold,
        scored_at,
        step.late,
    )
    if not scored["alert"]:
        return scored, None
    fired = tuple(result for result in event_rule_results(signals_of(step), event, rules) if result.fired)
    return scored, alert_record(scored, step.features, fired, bundle)


def scored_record(
    event: Event,
    features: Any,
    fired_rules: tuple[str, ...],
    rules_score: float,
    ml_score: float | None,
    bundle: ModelBundle | None,
    rules_only_threshold: float,
    scored_at: str,
    late: bool,
) -> dict[str, Any]:
    """The scored record: features, fired rules, the scores and their blend, the threshold, the verdict."""
    if bundle is not None and ml_score is not None:
        final = bundle.blend(ml_score, rules_score)
        manifest = bundle.manifest
        threshold, version = manifest.alert_threshold, manifest.model_version
    else:
        final, threshold, version = rules_score, rules_only_threshold, RULES_ONLY_VERSION
    return {
        "transaction_id": event.transaction_id,
        "customer_id": event.customer_id,
        "event_time": event.timestamp,
        "amount": event.amount,
        "currency": event.currency,
        "features": features._asdict(),  # a FeatureSet.vector: the model's features by name
        "fired_rules": list(fired_rules),
        "rules_score": rules_score,
        "ml_score": ml_score,
        "final_score": final,
        "threshold": threshold,
        "alert": final >= threshold and final > 0.0,
        "model_version": version,
        "scored_at": scored_at,
        "late": late,
    }


def alert_record(
    scored: dict[str, Any], features: Any, fired: tuple[RuleResult, ...], bundle: ModelBundle | None
) -> dict[str, Any]:
    """The alert of a scored record above its threshold: the fired rules' reasons and the model's top features."""
    top = bundle.top_contributions(features) if bundle is not None else []
    return {
        "alert_id": scored["transaction_id"],
        **{key: scored[key] for key in ("transaction_id", "customer_id", "event_time", "amount", "currency")},
        **{key: scored[key] for key in ("scored_at", "rules_score", "ml_score", "final_score", "threshold")},
        "fired_rules": list(scored["fired_rules"]),
        "reasons": [f"{result.rule_id} {result.name}: {result.reason}" for result in fired],
        "top_features": [{"feature": name, "contribution": value} for name, value in top],
        "model_version": scored["model_version"],
    }


def dead_letter(
    raw: bytes, error: EventError, *, source: str, received_at: str, job_version: str, model_version: str
) -> dict[str, Any]:
    """The dead-letter record of a rejected payload: its first 10 KB as text (bytes beyond UTF-8 replaced)."""
    return {
        **error.to_dict(),
        "source": source,
        "received_at": received_at,
        "job_version": job_version,
        "model_version": model_version,
        "payload": raw[:PAYLOAD_LIMIT_BYTES].decode("utf-8", "replace"),
        "payload_size": len(raw),
        "payload_truncated": len(raw) > PAYLOAD_LIMIT_BYTES,
    }


class MetricCounts:
    """Counts since the last drain, by name and by dead-letter error code (the totals too)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.values = dict.fromkeys(names, 0)
        self.codes: dict[str, int] = {}
        self._drained = dict.fromkeys(names, 0)
        self._drained_codes: dict[str, int] = {}

    def add(self, name: str) -> None:
        """Count one ``name``."""
        self.values[name] += 1

    def add_code(self, code: str) -> None:
        """Count one dead letter with ``code``."""
        self.codes[code] = self.codes.get(code, 0) + 1

    def drain(self) -> dict[str, int]:
        """What each name gained since the last drain (names that gained nothing left out)."""
        return _deltas(self.values, self._drained)

    def drain_codes(self) -> dict[str, int]:
        """What each error code gained since the last drain."""
        return _deltas(self.codes, self._drained_codes)


def _deltas(totals: dict[str, int], drained: dict[str, int]) -> dict[str, int]:
    deltas = {name: total - drained.get(name, 0) for name, total in totals.items()}
    drained.update(totals)
    return {name: delta for name, delta in deltas.items() if delta}


class _UtcClock:
    """The current UTC time, ISO 8601 to the millisecond (``2026-01-31T14:05:00.123+00:00``).

    Every scored record carries it: the date and time of day are formatted once per second
    (formatting a ``datetime`` costs more than the rest of the record), the milliseconds
    are appended.
    """

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self) -> str:
        second, millisecond = divmod(time.time_ns() // 1_000_000, 1000)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).replace(tzinfo=None).isoformat()
        return f"{self._prefix}.{millisecond:03d}+00:00"


utc_now = _UtcClock()


def to_json(record: dict[str, Any]) -> str:
    """One compact JSON line.

    orjson, or the standard encoder for what orjson refuses (such as an integer beyond 64
    bits echoed from a rejected payload).
    """
    try:
        return orjson.dumps(record).decode()
    except (orjson.JSONEncodeError, UnicodeEncodeError):
        return json.dumps(record, separators=(",", ":"))


# What the job keeps per customer in one Flink ``ValueState``: the core's serialized
# ``CUSTOMER_STATE`` (``None`` before the first event) and its remembered transaction ids (``core.dedup``).
# A plain tuple of bytes: it pickles fastest.
CustomerSlot = tuple[bytes | None, bytes]
EMPTY_SLOT: CustomerSlot = (None, b"")


class EventClock:
    """Event time of one task, as Flink's bounded out-of-orderness watermark generator keeps it.

    The watermark is the newest event time seen minus the bound (minus 1 ms); an event at or
    behind it is late.
    """

    def __init__(self, max_out_of_orderness_ms: int) -> None:
        self._bound_ms = max_out_of_orderness_ms
        self.newest_ms: int | None = None

    @property
    def watermark_ms(self) -> int | None:
        """The current watermark (``None`` before the first event)."""
        return None if self.newest_ms is None else self.newest_ms - self._bound_ms - 1

    def observe(self, event_time_ms: int) -> bool:
        """Note one event's time; whether it was late (at or behind the watermark before it)."""
        watermark = self.watermark_ms
        if self.newest_ms is None or event_time_ms > self.newest_ms:
            self.newest_ms = event_time_ms
        return watermark is not None and event_time_ms <= watermark


class SlotCache:
    """The slots the task last wrote to Flink state for recently scored customers, to spare reading them.

    The scoring function is the only writer of its keyed state, so a slot it wrote is what the
    state holds until Flink's TTL expires it: an entry older than the TTL (processing time, as
    Flink counts it) reads as absent. A restored task starts with an empty cache. At most
    ``capacity`` customers are kept; the least recently written go first.
    """

    def __init__(self, capacity: int, ttl_ms: int) -> None:
        self._capacity = capacity
        self._ttl_ms = ttl_ms
        self._slots: dict[str, tuple[CustomerSlot, int]] = {}

    def get(self, customer_id: str, now_ms: int, read: Callable[[str], CustomerSlot | None]) -> CustomerSlot | None:
        """The customer's slot (``None`` once expired); ``read`` from the state when not cached."""
        cached = self._slots.get(customer_id)
        if cached is None:
            return read(customer_id)
        slot, written_ms = cached
        return slot if now_ms - written_ms <= self._ttl_ms else None

    def put_all(self, slots: dict[str, CustomerSlot], now_ms: int) -> None:
        """Note the slots just written to the state."""
        cached = self._slots
        for customer_id, slot in slots.items():
            cached.pop(customer_id, None)
            cached[customer_id] = (slot, now_ms)
        for _ in range(len(cached) - self._capacity):
            del cached[next(iter(cached))]
