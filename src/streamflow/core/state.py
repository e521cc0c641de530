"""Per-customer state: running amount statistics, hour profile, last location, velocity window.

The state is bounded: a fixed part (3 numbers of amount statistics, 24 hour counts,
the last location and time) plus at most ``max_tracked_events`` recent event times,
which are also evicted once older than the velocity window. Serialized it takes
``154 + 8 * len(recent_event_times_ms)`` bytes.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field
from itertools import pairwise

from streamflow.core.contract import Event
from streamflow.core.errors import (
    StateBadMagicError,
    StateChecksumError,
    StateInvalidError,
    StateTruncatedError,
    StateVersionError,
)

HOURS_PER_DAY = 24
STATE_MAGIC = b"SF"
STATE_VERSION = 1
MAX_TRACKED_EVENTS = 4096

_HEADER = struct.Struct("<2sBB")
_BODY = struct.Struct(f"<qdd{HOURS_PER_DAY}Iddq H")
_CRC = struct.Struct("<I")
_FLAG_HAS_LAST = 0x01


@dataclass(slots=True)
class RunningStats:
    """Count, mean and sum of squared deviations (Welford's online algorithm).

    Numerically stable for long streams, and mergeable (Chan et al.) so partial
    statistics computed in parallel combine exactly.
    """

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, value: float) -> None:
        """Fold one observation in."""
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (value - self.mean)

    def merge(self, other: RunningStats) -> RunningStats:
        """Statistics of the union of both samples (neither input is changed)."""
        if other.count == 0:
            return RunningStats(self.count, self.mean, self.m2)
        if self.count == 0:
            return RunningStats(other.count, other.mean, other.m2)
        count = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / count
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / count
        return RunningStats(count, mean, m2)

    @property
    def variance(self) -> float:
        """Sample variance (ddof=1); 0.0 below two observations."""
        return self.m2 / (self.count - 1) if self.count > 1 else 0.0

    @property
    def std(self) -> float:
        """Sample standard deviation (ddof=1)."""
        return math.sqrt(self.variance)


def _empty_hours() -> list[int]:
    return [0] * HOURS_PER_DAY


@dataclass(slots=True)
class CustomerState:
    """Everything the rules and features remember about one customer."""

    amounts: RunningStats = field(default_factory=RunningStats)
    hour_counts: list[int] = field(default_factory=_empty_hours)
    last_latitude: float = 0.0
    last_longitude: float = 0.0
    last_event_time_ms: int | None = None
    recent_event_times_ms: list[int] = field(default_factory=list)

    @property
    def event_count(self) -> int:
        """Number of events folded into this state."""
        return self.amounts.count

    def updated(self, event: Event, *, window_ms: int, max_tracked_events: int) -> CustomerState:
        """A new state with ``event`` folded in (this one is not changed).

        Args:
            event: The event, already assessed against this state.
            window_ms: Velocity window: recent times older than the newest minus this go.
            max_tracked_events: Cap on the recent times kept (the oldest go first).

        """
        amounts = RunningStats(self.amounts.count, self.amounts.mean, self.amounts.m2)
        amounts.add(event.amount)
        hours = list(self.hour_counts)
        hours[int(event.local_hour)] += 1
        recent = _insert_sorted(self.recent_event_times_ms, event.event_time_ms)
        horizon = recent[-1] - window_ms
        keep_from = 0
        while keep_from < len(recent) and recent[keep_from] < horizon:
            keep_from += 1
        keep_from = max(keep_from, len(recent) - max_tracked_events)
        return CustomerState(
            amounts=amounts,
            hour_counts=hours,
            last_latitude=event.latitude,
            last_longitude=event.longitude,
            last_event_time_ms=event.event_time_ms,
            recent_event_times_ms=recent[keep_from:],
        )

    def to_bytes(self) -> bytes:
        """Compact versioned binary form, ending with a CRC32 of everything before it."""
        flags = _FLAG_HAS_LAST if self.last_event_time_ms is not None else 0
        recent = self.recent_event_times_ms
        content = b"".join(
            (
                _HEADER.pack(STATE_MAGIC, STATE_VERSION, flags),
                _BODY.pack(
                    self.amounts.count,
                    self.amounts.mean,
                    self.amounts.m2,
                    *self.hour_counts,
                    self.last_latitude,
                    self.last_longitude,
                    self.last_event_time_ms or 0,
                    len(recent),
                ),
                struct.pack(f"<{len(recent)}q", *recent),
            )
        )
        return content + _CRC.pack(zlib.crc32(content))

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> CustomerState:
        """Read a state written by :meth:`to_bytes`.

        Raises:
            StateError: A subclass saying why the bytes are unreadable (truncated, bad
                magic, newer version, checksum mismatch, impossible values).

        """
        raw = bytes(data)
        if len(raw) < _HEADER.size:
            raise StateTruncatedError(f"state is {len(raw)} bytes, shorter than its header")
        magic, version, flags = _HEADER.unpack_from(raw)
        if magic != STATE_MAGIC:
            raise StateBadMagicError(f"state starts with {magic!r}, expected {STATE_MAGIC!r}")
        if version != STATE_VERSION:
            raise StateVersionError(
                f"state serialization version {version} is not supported "
                f"(this build reads version {STATE_VERSION}); upgrade the reader"
            )
        fixed_size = _HEADER.size + _BODY.size
        if len(raw) < fixed_size + _CRC.size:
            raise StateTruncatedError(f"state is {len(raw)} bytes, expected at least {fixed_size + _CRC.size}")
        body = _BODY.unpack_from(raw, _HEADER.size)
        n_recent = body[-1]
        expected_size = fixed_size + 8 * n_recent + _CRC.size
        if len(raw) != expected_size:
            raise StateTruncatedError(f"state is {len(raw)} bytes, its header declares {expected_size}")
        (stored_crc,) = _CRC.unpack_from(raw, expected_size - _CRC.size)
        if zlib.crc32(raw[: expected_size - _CRC.size]) != stored_crc:
            raise StateChecksumError("state checksum mismatch: the bytes are corrupted")
        count, mean, m2 = body[0], body[1], body[2]
        hours = list(body[3 : 3 + HOURS_PER_DAY])
        last_lat, last_lon, last_time = body[3 + HOURS_PER_DAY : 6 + HOURS_PER_DAY]
        recent = list(struct.unpack_from(f"<{n_recent}q", raw, fixed_size))
        state = cls(
            amounts=RunningStats(count, mean, m2),
            hour_counts=hours,
            last_latitude=last_lat,
            last_longitude=last_lon,
            last_event_time_ms=last_time if flags & _FLAG_HAS_LAST else None,
            recent_event_times_ms=recent,
        )
        _check_invariants(state, flags)
        return state


def _insert_sorted(times: list[int], new_time: int) -> list[int]:
    if not times or new_time >= times[-1]:
        return [*times, new_time]
    position = len(times)
    while position > 0 and times[position - 1] > new_time:
        position -= 1
    return [*times[:position], new_time, *times[position:]]


def _check_invariants(state: CustomerState, flags: int) -> None:
    amounts = state.amounts
    problems = []
    if flags & ~_FLAG_HAS_LAST:
        problems.append(f"unknown flags {flags:#x}")
    if amounts.count < 0 or not math.isfinite(amounts.mean) or not (amounts.m2 >= 0.0):
        problems.append("amount statistics are impossible")
    if sum(state.hour_counts) != amounts.count:
        problems.append("hour profile does not add up to the event count")
    if (state.last_event_time_ms is not None) != (amounts.count > 0):
        problems.append("last location present without events (or missing with events)")
    if not (-90.0 <= state.last_latitude <= 90.0 and -180.0 <= state.last_longitude <= 180.0):
        problems.append("last location is out of range")
    recent = state.recent_event_times_ms
    if len(recent) > MAX_TRACKED_EVENTS or any(a > b for a, b in pairwise(recent)):
        problems.append("recent event times are unsorted or too many")
    if problems:
        raise StateInvalidError("state holds impossible values: " + "; ".join(problems))
