"""Plain, Flink-free logic of the stream: scoring one event and building output records.

The Flink functions in ``flink_app.job`` only load state, call these, store state and
emit what they return; tests drive these directly.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from streamflow.core import CustomerState, Event, EventError, RulesConfig, process_event
from streamflow.core.forest import ModelBundle

PAYLOAD_LIMIT_BYTES = 10_240
RULES_ONLY_VERSION = "rules-only"


@dataclass(frozen=True)
class Decision:
    """What the stream decides for one event."""

    scored: dict[str, Any]
    alert: dict[str, Any] | None
    state: CustomerState


def score_event(
    state: CustomerState | None,
    event: Event,
    rules: RulesConfig,
    bundle: ModelBundle | None,
    *,
    rules_only_threshold: float,
    scored_at: str,
    late: bool = False,
) -> Decision:
    """Features and rules from the core, the model's score, the blend and the alert."""
    assessment, new_state = process_event(state, event, rules)
    ml_score: float | None = None
    if bundle is not None:
        ml_score = bundle.ml_score(assessment.features)
        final = bundle.blend(ml_score, assessment.rules_score)
        threshold = bundle.manifest.alert_threshold
        version = bundle.manifest.model_version
    else:
        final, threshold, version = assessment.rules_score, rules_only_threshold, RULES_ONLY_VERSION
    fired = assessment.fired_rules
    scored = {
        "transaction_id": event.transaction_id,
        "customer_id": event.customer_id,
        "event_time": event.timestamp,
        "amount": event.amount,
        "currency": event.currency,
        "features": dict(zip(assessment.features._fields, assessment.features, strict=True)),
        "fired_rules": [result.rule_id for result in fired],
        "rules_score": assessment.rules_score,
        "ml_score": ml_score,
        "final_score": final,
        "threshold": threshold,
        "alert": final >= threshold and final > 0.0,
        "model_version": version,
        "scored_at": scored_at,
        "late": late,
    }
    alert = None
    if scored["alert"]:
        top = bundle.top_contributions(assessment.features) if bundle is not None else []
        alert = {
            "alert_id": event.transaction_id,
            **{key: scored[key] for key in ("transaction_id", "customer_id", "event_time", "amount", "currency")},
            "scored_at": scored_at,
            "rules_score": assessment.rules_score,
            "ml_score": ml_score,
            "final_score": final,
            "threshold": threshold,
            "fired_rules": [result.rule_id for result in fired],
            "reasons": [f"{result.rule_id} {result.name}: {result.reason}" for result in fired],
            "top_features": [{"feature": name, "contribution": value} for name, value in top],
            "model_version": version,
        }
    return Decision(scored, alert, new_state)


def dead_letter(
    payload: str, error: EventError, *, source: str, received_at: str, job_version: str, model_version: str
) -> dict[str, Any]:
    """The dead-letter record of a payload the parser rejected (payload cut to 10 KB)."""
    raw = payload.encode("utf-8", "replace")
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


def utc_now() -> str:
    """The current time, ISO 8601 with offset."""
    return datetime.now(UTC).isoformat()


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
# ``CustomerState`` (``None`` before the first event) and ``RecentTransactions.packed()``.
# A plain tuple of bytes: it pickles fastest.
CustomerSlot = tuple[bytes | None, bytes]
EMPTY_SLOT: CustomerSlot = (None, b"")
MAX_REMEMBERED_IDS = 4096  # per customer; the oldest arrivals go first beyond it


class RecentTransactions:
    """A customer's transaction ids within the dedup window, as 64-bit hashes with event times.

    Compact (16 bytes an id) so that months of ids cost little to load and store on every
    event. Two different ids share a hash with odds of about ``n**2 / 2**65`` (1e-13 for
    4,096 ids): a repeat is then reported where there is none.
    """

    def __init__(self, packed: bytes = b"") -> None:
        half = len(packed) // 2
        self._hashes = array("q", packed[:half])
        self._times = array("q", packed[half:])
        self._newest_ms = max(self._times) if self._times else None

    def __contains__(self, transaction_id: object) -> bool:
        return isinstance(transaction_id, str) and _id_hash(transaction_id) in self._hashes

    def __len__(self) -> int:
        return len(self._hashes)

    def is_late(self, event_time_ms: int, *, max_out_of_orderness_ms: int) -> bool:
        """Whether the event is older than the customer's newest remembered one by more than the bound."""
        return self._newest_ms is not None and event_time_ms < self._newest_ms - max_out_of_orderness_ms

    def remember(self, transaction_id: str, event_time_ms: int, *, window_ms: int) -> None:
        """Add one id; forget, oldest arrival first, ids older than the newest time minus ``window_ms``.

        Ids leave in arrival order (cheap: no scan of the rest), so one that arrived out of
        order stays until those before it go; beyond ``MAX_REMEMBERED_IDS`` the oldest go.
        """
        self._hashes.append(_id_hash(transaction_id))
        self._times.append(event_time_ms)
        self._newest_ms = event_time_ms if self._newest_ms is None else max(self._newest_ms, event_time_ms)
        horizon = self._newest_ms - window_ms
        times = self._times
        expired = 0
        while times[expired] < horizon:  # the newest time is never below the horizon
            expired += 1
        expired = max(expired, len(times) - MAX_REMEMBERED_IDS)
        if expired:
            del self._hashes[:expired]
            del self._times[:expired]

    def packed(self) -> bytes:
        """The bytes ``RecentTransactions(packed)`` reads back."""
        return self._hashes.tobytes() + self._times.tobytes()


def _id_hash(transaction_id: str) -> int:
    digest = hashlib.blake2b(transaction_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


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
