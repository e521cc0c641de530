"""Per-customer state: one numpy record with named fields, declared once in ``CUSTOMER_STATE``.

Running amount statistics (Welford), the 24-hour profile, the last location and time, the
windowed aggregates (count and amount sum over ``features.windows``, in time tiles), the
newest known fraud on the customer's transactions and the recent event times of the velocity
window. The record is fixed-size, so memory is bounded: ``CUSTOMER_STATE.itemsize`` (1,280)
bytes a customer (at most ``RECENT_CAPACITY`` recent times;
``fraud_rules.velocity.max_tracked_events`` may keep fewer).

Serialized (``encode_state``) it is a 4-byte header (``SF``, the version, 0), the record's
bytes up to its last recent time, and a CRC32 of all that: ``776 + 8 * recent_count`` bytes
for version 4. Both the batch replay and the stream fold events with :func:`fold_event`, and
known outcomes with :func:`fold_known_customer_outcomes`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamflow.core.compiled import compiled
from streamflow.core.errors import (
    StateBadMagicError,
    StateChecksumError,
    StateError,
    StateInvalidError,
    StateTruncatedError,
    StateVersionError,
)
from streamflow.core.windows import N_WINDOWS, TILES_PER_WINDOW, add_to_ring, ring_totals, tile_of

HOURS_PER_DAY = 24
RECENT_CAPACITY = 64  # recent event times a state can hold (velocity window)

CUSTOMER_STATE = np.dtype(
    [
        ("event_count", np.int64),
        ("amount_mean", np.float64),
        ("amount_m2", np.float64),  # sum of squared deviations from the mean (Welford)
        ("last_latitude", np.float64),
        ("last_longitude", np.float64),
        ("last_event_time_ms", np.int64),
        ("hour_counts", np.uint32, (HOURS_PER_DAY,)),  # events per local hour of day
        ("window_newest_tile", np.int64, (N_WINDOWS,)),  # per window: the newest tile seen (time // tile length)
        ("window_counts", np.uint32, (N_WINDOWS, TILES_PER_WINDOW)),  # events per tile, ring by tile % TILES
        ("window_amounts", np.float64, (N_WINDOWS, TILES_PER_WINDOW)),  # amount sums per tile
        ("fraud_known_ms", np.int64),  # the newest labelled_at of a fraud outcome folded (0: none)
        ("recent_count", np.int64),
        ("recent_times_ms", np.int64, (RECENT_CAPACITY,)),  # sorted; the first recent_count are used
    ],
    align=True,
)
STATE_VERSION = 4  # 3: before the newest known fraud; 2: before the windowed aggregates; 1: before the one definition
# A known outcome of the label contract, as both entities' states fold it: when it was known, whether fraud.
OUTCOME_INPUT = np.dtype([("labelled_at_ms", np.int64), ("is_fraud", np.bool_)], align=True)
_MAGIC_S, _MAGIC_F = 83, 70  # b"SF"
HEADER_BYTES = 4
CRC_BYTES = 4


def field_layout(record: np.dtype[Any], name: str) -> tuple[np.dtype[Any], int]:
    """A record field's dtype and byte offset."""
    fields: Mapping[str, tuple[Any, ...]] = record.fields or {}
    dtype, offset = fields[name][:2]
    return dtype, int(offset)


_RECENT_OFFSET = field_layout(CUSTOMER_STATE, "recent_times_ms")[1]
_RECORD_BYTES = CUSTOMER_STATE.itemsize
MAX_STATE_BYTES = HEADER_BYTES + _RECORD_BYTES + CRC_BYTES

# what decode_state says of the bytes it reads
STATE_READ, STATE_TRUNCATED, STATE_BAD_MAGIC, STATE_OTHER_VERSION, STATE_BAD_CHECKSUM, STATE_IMPOSSIBLE = range(6)
_STATE_ERRORS: dict[int, tuple[type[StateError], str]] = {
    STATE_TRUNCATED: (StateTruncatedError, "the state is shorter or longer than its header declares"),
    STATE_BAD_MAGIC: (StateBadMagicError, "the state does not start with b'SF'"),
    STATE_OTHER_VERSION: (
        StateVersionError,
        f"state serialization version is not {STATE_VERSION}: written by another version of the job "
        "(docs/runbooks.md, 'Customer state from another version')",
    ),
    STATE_BAD_CHECKSUM: (StateChecksumError, "state checksum mismatch: the bytes are corrupted"),
    STATE_IMPOSSIBLE: (StateInvalidError, "state holds impossible values"),
}


def new_states(count: int) -> NDArray[Any]:
    """``count`` empty customer states (every field zero)."""
    return np.zeros(count, dtype=CUSTOMER_STATE)


@compiled
def fold_event(
    state: Any, amount: float, latitude: float, longitude: float, event_time_ms: int, hour: int, params: Any
) -> None:
    """Fold one event into ``state`` (in place), after it was assessed against it.

    ``params`` holds ``velocity_window_ms`` and ``max_tracked_events``: recent times older than
    the newest minus the window are forgotten, and beyond ``max_tracked_events`` the oldest. Its
    ``window_tile_ms`` are the windows' tile lengths.
    """
    count = state["event_count"] + 1
    delta = amount - state["amount_mean"]
    state["amount_mean"] += delta / count
    state["amount_m2"] += delta * (amount - state["amount_mean"])
    state["event_count"] = count
    state["hour_counts"][hour] += 1
    state["last_latitude"] = latitude
    state["last_longitude"] = longitude
    state["last_event_time_ms"] = event_time_ms
    add_to_windows(state, event_time_ms, amount, params["window_tile_ms"])
    state["recent_count"] = remember_time(
        state["recent_times_ms"],
        state["recent_count"],
        event_time_ms,
        params["velocity_window_ms"],
        params["max_tracked_events"],
    )


@compiled
def remember_time(times: Any, count: int, time_ms: int, window_ms: int, max_kept: int) -> int:
    """Insert ``time_ms`` into the sorted ``times[:count]``, forget what the window and the cap drop; the new count."""
    merged = np.empty(count + 1, dtype=np.int64)
    position = np.searchsorted(times[:count], time_ms, side="right")  # after equal times: arrival order
    merged[:position] = times[:position]
    merged[position] = time_ms
    merged[position + 1 :] = times[position:count]
    horizon = merged[count] - window_ms
    keep_from = max(np.searchsorted(merged, horizon, side="left"), count + 1 - max_kept)
    kept = count + 1 - keep_from
    times[:kept] = merged[keep_from:]
    return int(kept)


@compiled
def fold_known_customer_outcomes(state: Any, outcomes: Any, first: int, end: int, time_ms: int) -> tuple[int, int]:
    """Fold the customer's ``outcomes[first:end]`` known before an event at ``time_ms``.

    The rule of ``core.merchant.fold_known_outcomes``: an outcome counts for the events after its
    ``labelled_at``. ``outcomes`` are ``OUTCOME_INPUT`` records of this customer's transactions,
    in ``labelled_at`` order. A fraud moves ``fraud_known_ms`` on; the newest is kept whatever the
    order the outcomes come in. Returns where the rest start, and how many folded frauds came after
    an event later than their ``labelled_at`` had been folded (:func:`newest_event_ms`): that event
    read the customer's known fraud without them, where batch's counted them.
    """
    too_late = 0
    newest_ms = newest_event_ms(state)
    while first < end and outcomes[first]["labelled_at_ms"] < time_ms:
        labelled_at_ms = outcomes[first]["labelled_at_ms"]
        if outcomes[first]["is_fraud"]:
            too_late += 1 if labelled_at_ms < newest_ms else 0
            state["fraud_known_ms"] = max(state["fraud_known_ms"], labelled_at_ms)
        first += 1
    return first, too_late


@compiled
def newest_event_ms(state: Any) -> int:
    """The newest event time folded into ``state`` (the last of its sorted recent times); -1 before any event."""
    count = state["recent_count"]
    return int(state["recent_times_ms"][count - 1]) if count > 0 else -1


@compiled
def add_to_windows(state: Any, time_ms: int, amount: float, tile_lengths: Any) -> None:
    """Count the event and its amount in each window's tile for ``time_ms`` (``core.windows``)."""
    for window in range(N_WINDOWS):
        add_to_ring(
            state["window_newest_tile"],
            state["window_counts"],
            state["window_amounts"],
            window,
            tile_lengths[window],
            time_ms,
            amount,
        )


@compiled
def window_totals(state: Any, window: int, tile_ms: int, time_ms: int) -> tuple[int, float]:
    """Past events and their amount sum in ``window`` (tiles of ``tile_ms``) up to ``time_ms``'s tile.

    Exact to a tile: the tiles cover the last ``length * 11/12`` to ``length`` (the current tile
    is partly elapsed). Zero for a customer with no events.
    """
    if state["event_count"] == 0:
        return 0, 0.0
    last_tile = tile_of(tile_ms, time_ms)
    count, total = ring_totals(
        state["window_newest_tile"], state["window_counts"], state["window_amounts"], window, last_tile
    )
    return count, float(total)


@compiled
def sample_std(count: int, m2: float) -> float:
    """Sample standard deviation (ddof=1) from Welford's sum of squares; 0.0 below two events."""
    return math.sqrt(m2 / (count - 1)) if count > 1 else 0.0


@compiled
def is_possible(state: Any) -> bool:
    """Whether a state's values can have come from folding events (a decoded state must be)."""
    count = state["event_count"]
    recent = state["recent_times_ms"][: state["recent_count"]]
    return (
        count >= 0
        and math.isfinite(state["amount_mean"])
        and state["amount_m2"] >= 0.0
        and np.int64(state["hour_counts"].sum()) == count
        and -90.0 <= state["last_latitude"] <= 90.0
        and -180.0 <= state["last_longitude"] <= 180.0
        and (count > 0 or state["last_event_time_ms"] == 0)
        and all_finite(state["window_amounts"])
        and state["fraud_known_ms"] >= 0
        and is_sorted(recent)
    )


@compiled
def all_finite(values: Any) -> bool:
    """Whether every value of an array is finite (a loop: no temporary array on every event)."""
    for value in values.flat:  # noqa: SIM110 - numba compiles the loop, not all() over a generator
        if not math.isfinite(value):
            return False
    return True


@compiled
def is_sorted(values: Any) -> bool:
    """Whether a 1-d array is in ascending order (ties allowed)."""
    for index in range(1, values.shape[0]):  # noqa: SIM110 - numba compiles the loop, not all() over a generator
        if values[index - 1] > values[index]:
            return False
    return True


@compiled
def write_header(out: Any, magic: int, version: int) -> None:
    """A serialized state's 4-byte header: ``S``, the entity's ``magic`` letter, the version, 0."""
    out[0] = _MAGIC_S
    out[1] = magic
    out[2] = version
    out[3] = 0


@compiled
def seal(out: Any, end: int) -> int:
    """Append the CRC32 of ``out[:end]``; the serialized size."""
    out[end : end + CRC_BYTES].view(np.uint32)[0] = crc32(out[:end])
    return int(end + CRC_BYTES)


@compiled
def header_status(data: Any, magic: int, version: int) -> int:
    """``STATE_READ`` if ``data`` starts with the header of ``magic`` and ``version``, or why not."""
    if data.shape[0] < HEADER_BYTES:
        return STATE_TRUNCATED
    if data[0] != _MAGIC_S or data[1] != magic:
        return STATE_BAD_MAGIC
    if data[2] != version or data[3] != 0:
        return STATE_OTHER_VERSION
    return STATE_READ


@compiled
def checksum_matches(data: Any, end: int) -> bool:
    """Whether ``data`` is ``end`` bytes and their CRC32."""
    return bool(data.shape[0] == end + CRC_BYTES and crc32(data[:end]) == data[end:].view(np.uint32)[0])


@compiled
def encode_state(record_bytes: Any, out: Any) -> int:
    """The serialized state of the record held in ``record_bytes`` into ``out``; its size in bytes."""
    state = record_bytes.view(CUSTOMER_STATE)[0]
    size = _RECENT_OFFSET + 8 * state["recent_count"]
    write_header(out, _MAGIC_F, STATE_VERSION)
    out[HEADER_BYTES : HEADER_BYTES + size] = record_bytes[:size]
    return seal(out, HEADER_BYTES + size)


@compiled
def decode_state(data: Any, record_bytes: Any) -> int:
    """Read serialized ``data`` into ``record_bytes`` (empty ``data``: a new customer); ``STATE_READ`` or why not."""
    record_bytes[:] = 0
    size = data.shape[0]
    if size == 0:
        return STATE_READ
    status = header_status(data, _MAGIC_F, STATE_VERSION)
    if status != STATE_READ:
        return status
    if size < HEADER_BYTES + _RECENT_OFFSET + CRC_BYTES:
        return STATE_TRUNCATED
    record_bytes[:_RECENT_OFFSET] = data[HEADER_BYTES : HEADER_BYTES + _RECENT_OFFSET]
    state = record_bytes.view(CUSTOMER_STATE)[0]
    recent_count = state["recent_count"]
    if recent_count < 0 or recent_count > RECENT_CAPACITY:
        return STATE_IMPOSSIBLE
    end = HEADER_BYTES + _RECENT_OFFSET + 8 * recent_count
    if size != end + CRC_BYTES:
        return STATE_TRUNCATED
    if not checksum_matches(data, end):
        return STATE_BAD_CHECKSUM
    record_bytes[_RECENT_OFFSET : _RECENT_OFFSET + 8 * recent_count] = data[HEADER_BYTES + _RECENT_OFFSET : end]
    return STATE_READ if is_possible(state) else STATE_IMPOSSIBLE


def state_error(status: int, entity: str = "customer") -> StateError:
    """The coded error for a ``decode_state`` status other than ``STATE_READ`` (of ``entity``'s state)."""
    error_type, message = _STATE_ERRORS[status]
    return error_type(message if entity == "customer" else f"{entity} state: {message}")


def _crc_tables() -> NDArray[np.uint32]:
    """CRC-32 (zlib's polynomial) lookup tables for eight bytes at a time ("slicing by 8")."""
    tables = np.zeros((8, 256), dtype=np.uint32)
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
        tables[0, byte] = crc
    for table in range(1, 8):
        tables[table] = (tables[table - 1] >> 8) ^ tables[0][tables[table - 1] & 0xFF]
    return tables


_CRC_TABLES = _crc_tables()


@compiled
def crc32(data: Any) -> int:
    """``zlib.crc32`` of a uint8 array, eight bytes per step."""
    tables = _CRC_TABLES
    crc = np.uint32(0xFFFFFFFF)
    size = data.shape[0]
    index = 0
    while index + 8 <= size:
        crc = (
            tables[7, data[index] ^ (crc & 0xFF)]
            ^ tables[6, data[index + 1] ^ ((crc >> 8) & 0xFF)]
            ^ tables[5, data[index + 2] ^ ((crc >> 16) & 0xFF)]
            ^ tables[4, data[index + 3] ^ (crc >> 24)]
            ^ tables[3, data[index + 4]]
            ^ tables[2, data[index + 5]]
            ^ tables[1, data[index + 6]]
            ^ tables[0, data[index + 7]]
        )
        index += 8
    while index < size:
        crc = tables[0, (crc ^ data[index]) & 0xFF] ^ (crc >> np.uint32(8))
        index += 1
    return int(crc ^ np.uint32(0xFFFFFFFF))


class CustomerState:
    """One customer's state for Python callers (notebooks, tests): a ``CUSTOMER_STATE`` record."""

    __slots__ = ("record",)

    def __init__(self, record: NDArray[Any] | None = None) -> None:
        self.record = new_states(1) if record is None else record

    def copy(self) -> CustomerState:
        """An independent copy."""
        return CustomerState(self.record.copy())

    def __getattr__(self, name: str) -> Any:
        """A field of the record by its name (``state.event_count``, ``state.recent_times_ms`` ...)."""
        if name not in (CUSTOMER_STATE.names or ()):
            raise AttributeError(name)
        value = self.record[0][name]
        if name == "recent_times_ms":
            return value[: self.record[0]["recent_count"]].tolist()
        return value.tolist() if isinstance(value, np.ndarray) else value.item()

    @property
    def amount_std(self) -> float:
        """Sample standard deviation of the customer's amounts."""
        return float(sample_std(self.event_count, self.amount_m2))

    def to_bytes(self) -> bytes:
        """The serialized state (see the module docstring)."""
        out = np.zeros(MAX_STATE_BYTES, dtype=np.uint8)
        size = encode_state(self.record.view(np.uint8), out)
        return out[:size].tobytes()

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> CustomerState:
        """Read a state written by :meth:`to_bytes`.

        Raises:
            StateError: A subclass saying why the bytes are unreadable (truncated, bad magic,
                another version, checksum mismatch, impossible values).

        """
        state = cls()
        status = decode_state(np.frombuffer(bytes(data), dtype=np.uint8), state.record.view(np.uint8))
        if status != STATE_READ:
            raise state_error(status)
        return state
