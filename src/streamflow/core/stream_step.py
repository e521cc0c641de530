"""One event's step on a customer's packed state, compiled: dedup, lateness, features, rules, new state, tree walk.

The stream keeps each customer as two byte strings: the core's versioned
``CustomerState.to_bytes()`` and ``RecentTransactions.packed()``. Unpacking them into
Python objects, assessing the event and packing them again costs more than Flink's own
work per event, so :class:`StreamStep` does that arithmetic on the bytes in one call of a
function compiled by numba. It performs the same operations in the same order as
:func:`~streamflow.core.features.process_event`, :class:`RecentTransactions` and the
model's tree walk, so its numbers are theirs bit for bit (tests compare them on generated
streams). Without numba the same function runs as plain Python, slowly.

The fired rules' reasons are not computed here: the caller asks ``process_event`` for
them when a rule fires.
"""

from __future__ import annotations

import ctypes
import functools
import math
import struct
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from streamflow.core.contract import Event
from streamflow.core.dedup import MAX_REMEMBERED_IDS, id_hash
from streamflow.core.errors import StateInvalidError
from streamflow.core.features import HOUR_COS, HOUR_SIN, MIN_RESULTANT, FeatureVector
from streamflow.core.forest import LEAF, ModelBundle, _address
from streamflow.core.geo import EARTH_RADIUS_KM
from streamflow.core.rules import RulesConfig
from streamflow.core.state import HOURS_PER_DAY, MAX_TRACKED_EVENTS, STATE_VERSION, CustomerState

try:
    from numba import njit

    _compiled = njit(cache=True, nogil=True)
except ImportError:  # pragma: no cover - numba ships with shap in this environment

    def _compiled(function: Any) -> Any:
        return function


N_FEATURES = len(FeatureVector._fields)

# The event, packed: five float64 then three int64 (event time, UTC offset, id hash).
_EVENT = struct.Struct("<5d3q")
E_AMOUNT, E_LATITUDE, E_LONGITUDE, E_BLACKLISTED, E_LIMIT, E_TIME, E_OFFSET, E_ID_HASH = range(8)

# Rule thresholds and stream bounds, as float64 (integers stay exact below 2**53).
(
    P_MIN_HISTORY,
    P_HIGH_VALUE_WEIGHT,
    P_ZSCORE_THRESHOLD,
    P_MIN_STD,
    P_VELOCITY_WEIGHT,
    P_MAX_TRANSACTIONS,
    P_VELOCITY_WINDOW_MS,
    P_MAX_TRACKED_EVENTS,
    P_TRAVEL_WEIGHT,
    P_MAX_SPEED_KMH,
    P_MIN_DISTANCE_KM,
    P_MIN_INTERVAL_MS,
    P_HOUR_WEIGHT,
    P_MIN_HOURS_FROM_TYPICAL,
    P_MAX_HOUR_SHARE,
    P_BLACKLIST_WEIGHT,
    P_MAX_OUT_OF_ORDERNESS_MS,
    P_DEDUP_WINDOW_MS,
    P_TREE_DEPTH,
) = range(19)
N_PARAMS = 19

# What one step writes back.
O_STATUS, O_LATE = 0, 1
O_FEATURES = 2  # six, in FEATURE_NAMES order
O_FIRED = 8  # bit i set: rule RULE_IDS[i] fired
O_RULES_SCORE, O_DEPTH, O_STATE_SIZE, O_IDS_SIZE = 9, 10, 11, 12
N_OUT = 13
RULE_IDS = ("FR-001", "FR-002", "FR-003", "FR-004", "FR-005")  # evaluate_rules' order
_FIRED_IDS = [tuple(rule for bit, rule in enumerate(RULE_IDS) if mask >> bit & 1) for mask in range(32)]
_OUT = struct.Struct(f"<{N_OUT}d")
STATUS_SCORED, STATUS_DUPLICATE, STATUS_BAD_STATE, STATUS_BAD_IDS = 0, 1, 2, 3

# CustomerState.to_bytes() version 1, at byte offsets: magic 0, version 2, flags 3, count 4,
# mean 12, m2 20, 24 hour counts (uint32) 28, last latitude 124, last longitude 132,
# last event time 140, number of recent times (uint16) 148, recent times 150, then CRC32.
_COUNT, _MEAN, _M2, _HOURS, _LAST_LAT, _LAST_LON, _LAST_TIME, _N_RECENT, _RECENT = (
    4,
    12,
    20,
    28,
    124,
    132,
    140,
    148,
    150,
)
_FLAG_HAS_LAST = 1
_MAX_STATE_BYTES = _RECENT + 8 * MAX_TRACKED_EVENTS + 4
_DEG_TO_RAD = math.pi / 180.0  # as CPython's math.radians
_TWO_PI = 2.0 * math.pi
_HOUR_COS = np.array(HOUR_COS)
_HOUR_SIN = np.array(HOUR_SIN)


def _crc_tables() -> NDArray[np.uint32]:
    """CRC-32 (zlib's) lookup tables for eight bytes at a time ("slicing by 8")."""
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


class StepResult(NamedTuple):
    """One event's step: what the stream records and the customer's new packed state."""

    late: bool
    features: FeatureVector
    fired_rules: tuple[str, ...]
    rules_score: float
    depth: float | None
    state: bytes
    ids: bytes


class StreamStep:
    """Scores events against packed customer state, one compiled call each.

    Args:
        rules: Rule thresholds.
        bundle: The model whose trees give the depth (``None``: rules only).
        max_out_of_orderness_ms: An event older than the customer's newest by more is late.
        dedup_window_ms: How long a customer's transaction ids are remembered.

    """

    def __init__(
        self,
        rules: RulesConfig,
        bundle: ModelBundle | None,
        *,
        max_out_of_orderness_ms: int,
        dedup_window_ms: int,
    ) -> None:
        self._rules = rules
        self._high_value = rules.high_value
        self._blacklist = rules.blacklist
        self._empty_state = CustomerState().to_bytes()
        self._has_model = bundle is not None
        offsets, nodes, leaf_value, tree_depth = _packed_trees(bundle) if bundle is not None else _NO_TREES
        self._work, views = _workspace(
            event=np.zeros(8, dtype=np.float64),
            params=_params(rules, max_out_of_orderness_ms, dedup_window_ms, tree_depth),
            x32=np.zeros(N_FEATURES, dtype=np.float32),
            out=np.zeros(N_OUT, dtype=np.float64),
            state_out=np.zeros(_MAX_STATE_BYTES, dtype=np.uint8),
            ids_out=np.zeros(16 * MAX_REMEMBERED_IDS, dtype=np.uint8),
            offsets=offsets,
            nodes=nodes,
            leaf_value=leaf_value,
            cursors=np.zeros(offsets.shape[0] - 1, dtype=np.int64),
        )
        self._event_bytes, self._out_bytes, self._state_out_bytes, self._ids_out_bytes = (
            views[name].data.cast("B") for name in ("event", "out", "state_out", "ids_out")
        )
        self._run = self._entry()

    def __call__(self, state: bytes | None, ids: bytes, event: Event) -> StepResult | None:
        """The event's step; ``None`` when the customer's ids already hold its transaction id.

        Raises:
            StateError: ``state`` is not a readable customer state.

        """
        _EVENT.pack_into(
            self._event_bytes,
            0,
            event.amount,
            event.latitude,
            event.longitude,
            1.0 if self._is_blacklisted(event) else 0.0,
            self._high_value.limit_for(event.currency),
            event.event_time_ms,
            event.utc_offset_minutes,
            id_hash(event.transaction_id),
        )
        packed_state = self._empty_state if state is None else state
        self._run(packed_state, len(packed_state), ids, len(ids))
        out = _OUT.unpack_from(self._out_bytes)
        status = out[O_STATUS]
        if status == STATUS_DUPLICATE:
            return None
        if status != STATUS_SCORED:
            _raise_unreadable(packed_state, status)
        return StepResult(
            out[O_LATE] != 0.0,
            FeatureVector._make(out[O_FEATURES:O_FIRED]),
            _FIRED_IDS[int(out[O_FIRED])],
            out[O_RULES_SCORE],
            out[O_DEPTH] if self._has_model else None,
            bytes(self._state_out_bytes[: int(out[O_STATE_SIZE])]),
            bytes(self._ids_out_bytes[: int(out[O_IDS_SIZE])]),
        )

    def _is_blacklisted(self, event: Event) -> bool:
        blacklist = self._blacklist
        return (
            event.customer_id in blacklist.customer_ids
            or event.card_id in blacklist.card_ids
            or event.store_id in blacklist.store_ids
        )

    def _entry(self) -> Any:
        """The step with the workspace bound: it takes the state and the ids (bytes and sizes)."""
        work = self._work
        compiled = _c_step()
        if compiled is not None:
            return functools.partial(compiled, _address(work), work.shape[0])

        def run(state: bytes, n_state: int, ids: bytes, n_ids: int) -> None:  # pragma: no cover - no numba
            step_in_workspace(work, np.frombuffer(state, dtype=np.uint8), np.frombuffer(ids, dtype=np.uint8))

        return run


def _raise_unreadable(state: bytes, status: float) -> None:
    if status == STATUS_BAD_IDS:
        raise StateInvalidError("the customer's remembered ids are not a whole number of (hash, time) pairs")
    CustomerState.from_bytes(state)  # raises the specific StateError
    raise StateInvalidError("state holds impossible values")


def _params(
    rules: RulesConfig, max_out_of_orderness_ms: int, dedup_window_ms: int, tree_depth: int
) -> NDArray[np.float64]:
    params = np.zeros(N_PARAMS, dtype=np.float64)
    params[P_MIN_HISTORY] = rules.min_history
    params[P_HIGH_VALUE_WEIGHT] = rules.high_value.weight
    params[P_ZSCORE_THRESHOLD] = rules.high_value.zscore_threshold
    params[P_MIN_STD] = rules.high_value.min_std
    params[P_VELOCITY_WEIGHT] = rules.velocity.weight
    params[P_MAX_TRANSACTIONS] = rules.velocity.max_transactions
    params[P_VELOCITY_WINDOW_MS] = rules.velocity.window_ms
    params[P_MAX_TRACKED_EVENTS] = rules.velocity.max_tracked_events
    params[P_TRAVEL_WEIGHT] = rules.impossible_travel.weight
    params[P_MAX_SPEED_KMH] = rules.impossible_travel.max_speed_kmh
    params[P_MIN_DISTANCE_KM] = rules.impossible_travel.min_distance_km
    params[P_MIN_INTERVAL_MS] = rules.impossible_travel.min_interval_ms
    params[P_HOUR_WEIGHT] = rules.unusual_hour.weight
    params[P_MIN_HOURS_FROM_TYPICAL] = rules.unusual_hour.min_hours_from_typical
    params[P_MAX_HOUR_SHARE] = rules.unusual_hour.max_hour_share
    params[P_BLACKLIST_WEIGHT] = rules.blacklist.weight
    params[P_MAX_OUT_OF_ORDERNESS_MS] = max_out_of_orderness_ms
    params[P_DEDUP_WINDOW_MS] = dedup_window_ms
    params[P_TREE_DEPTH] = tree_depth
    return params


WORKSPACE_SECTIONS = (
    "event",
    "params",
    "x32",
    "out",
    "state_out",
    "ids_out",
    "offsets",
    "nodes",
    "leaf_value",
    "cursors",
)
_HEADER_SLOTS = 16  # number of trees, number of nodes, then where each section starts (and the end)


def _workspace(**arrays: NDArray[Any]) -> tuple[NDArray[np.uint8], dict[str, NDArray[Any]]]:
    """One buffer holding every array the step reads or writes, 8-byte aligned, with a header of offsets.

    The compiled step then takes one address for all of them: each argument ctypes
    converts costs about 0.2 us a call.
    """
    sizes = [-(-arrays[name].nbytes // 8) * 8 for name in WORKSPACE_SECTIONS]
    starts = np.cumsum([8 * _HEADER_SLOTS, *sizes])
    work = np.zeros(int(starts[-1]), dtype=np.uint8)
    header = work[: 8 * _HEADER_SLOTS].view(np.int64)
    header[0] = arrays["offsets"].shape[0] - 1
    header[1] = arrays["nodes"].shape[0]
    header[2 : 3 + len(WORKSPACE_SECTIONS)] = starts
    views = {}
    for name, start in zip(WORKSPACE_SECTIONS, starts[:-1], strict=True):
        array = arrays[name]
        view = work[start : start + array.nbytes].view(array.dtype).reshape(array.shape)
        view[...] = array
        views[name] = view
    return work, views


def _packed_trees(bundle: ModelBundle) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64], int]:
    """Tree offsets, one 16-byte record per node, the leaf values and the deepest leaf's depth.

    A record holds the left and right children as absolute indices (a leaf is its own
    child), the split feature (plus ``MISSING_GOES_LEFT``) and the threshold as the largest
    float32 at or below it: for a float32 feature ``x <= threshold`` either way, so the
    walk takes the batch walk's path. Four records share a cache line.
    """
    offsets, left, right, feature, threshold, missing_left, leaf_value = bundle.walk_arrays()
    index = np.arange(left.shape[0], dtype=np.int64)
    base = np.repeat(offsets[:-1], np.diff(offsets))
    is_leaf = left == LEAF
    nodes = np.empty((left.shape[0], 4), dtype=np.int32)
    nodes[:, 0] = np.where(is_leaf, index, base + left)
    nodes[:, 1] = np.where(is_leaf, index, base + right)
    nodes[:, 2] = feature + MISSING_GOES_LEFT * (missing_left != 0)
    with np.errstate(over="ignore"):
        below = threshold.astype(np.float32)
    below = np.where(below > threshold, np.nextafter(below, np.float32(-np.inf)), below)
    nodes[:, 3] = below.astype(np.float32).view(np.int32)
    return offsets, nodes, leaf_value, _deepest_leaf(offsets, nodes)


def _deepest_leaf(offsets: NDArray[np.int64], nodes: NDArray[np.int32]) -> int:
    frontier = offsets[:-1]
    depth = 0
    while True:
        inner = frontier[nodes[frontier, 0] != frontier]
        if inner.shape[0] == 0:
            return depth
        frontier = np.concatenate((nodes[inner, 0], nodes[inner, 1]))
        depth += 1


MISSING_GOES_LEFT = 256
_NO_TREES = (np.zeros(1, dtype=np.int64), np.zeros((1, 4), dtype=np.int32), np.zeros(1, dtype=np.float64), 0)


# --- the compiled part: plain Python that numba compiles (no Python objects inside) ---


@_compiled
def _child(nodes, thresholds, x32, node):  # type: ignore[no-untyped-def]
    """The next node for ``x32`` (a leaf is its own child), picked without a branch."""
    code = nodes[node, 2]
    value = x32[code & (MISSING_GOES_LEFT - 1)]
    # left when x <= threshold, or x is missing and missing values go left
    go_left = np.int32(value <= thresholds[node, 3]) | (np.int32(value != value) & (code >> 8))
    return nodes[node, 1 - go_left]


@_compiled
def _depth(x32, offsets, nodes, leaf_value, tree_depth, cursors):  # type: ignore[no-untyped-def]
    """Summed leaf values over the trees, added in tree order as ``ModelBundle.path_lengths`` adds them.

    Every tree takes ``tree_depth`` steps (leaves loop on themselves), all trees one level
    at a time: the reads of one level do not depend on each other, so the CPU overlaps
    their cache misses (the walk runs between a JVM's events, on cold caches).
    ``cursors`` holds one node per tree.
    """
    thresholds = nodes.view(np.float32)
    n_trees = offsets.shape[0] - 1
    for tree in range(n_trees):
        cursors[tree] = offsets[tree]
    for _ in range(tree_depth):
        for tree in range(n_trees):
            cursors[tree] = _child(nodes, thresholds, x32, cursors[tree])
    total = 0.0
    for tree in range(n_trees):
        total += leaf_value[cursors[tree]]
    return total


@_compiled
def _f64(buffer, offset):  # type: ignore[no-untyped-def]
    return buffer[offset : offset + 8].view(np.float64)[0]


@_compiled
def _i64(buffer, offset):  # type: ignore[no-untyped-def]
    return buffer[offset : offset + 8].view(np.int64)[0]


@_compiled
def _put_f64(buffer, offset, value):  # type: ignore[no-untyped-def]
    buffer[offset : offset + 8].view(np.float64)[0] = value


@_compiled
def _put_i64(buffer, offset, value):  # type: ignore[no-untyped-def]
    buffer[offset : offset + 8].view(np.int64)[0] = value


@_compiled
def _crc32(buffer, size):  # type: ignore[no-untyped-def]
    """zlib.crc32 of ``buffer[:size]``, eight bytes per step."""
    tables = _CRC_TABLES
    crc = np.uint32(0xFFFFFFFF)
    index = 0
    while index + 8 <= size:
        crc = (
            tables[7, buffer[index] ^ (crc & 0xFF)]
            ^ tables[6, buffer[index + 1] ^ ((crc >> 8) & 0xFF)]
            ^ tables[5, buffer[index + 2] ^ ((crc >> 16) & 0xFF)]
            ^ tables[4, buffer[index + 3] ^ (crc >> 24)]
            ^ tables[3, buffer[index + 4]]
            ^ tables[2, buffer[index + 5]]
            ^ tables[1, buffer[index + 6]]
            ^ tables[0, buffer[index + 7]]
        )
        index += 8
    while index < size:
        crc = tables[0, (crc ^ buffer[index]) & 0xFF] ^ (crc >> np.uint32(8))
        index += 1
    return crc ^ np.uint32(0xFFFFFFFF)


@_compiled
def _readable(state):  # type: ignore[no-untyped-def]
    """What ``CustomerState.from_bytes`` accepts (it says why when it does not)."""
    size = state.shape[0]
    if size < _RECENT + 4 or state[0] != 83 or state[1] != 70 or state[2] != STATE_VERSION:  # b"SF"
        return False
    n_recent = np.int64(state[_N_RECENT]) | (np.int64(state[_N_RECENT + 1]) << 8)
    if size != _RECENT + 8 * n_recent + 4 or n_recent > MAX_TRACKED_EVENTS:
        return False
    stored_crc = state[size - 4 : size].view(np.uint32)[0]
    if _crc32(state, size - 4) != stored_crc:
        return False
    flags = state[3]
    count = _i64(state, _COUNT)
    mean = _f64(state, _MEAN)
    m2 = _f64(state, _M2)
    hours = state[_HOURS : _HOURS + 4 * HOURS_PER_DAY].view(np.uint32)
    latitude = _f64(state, _LAST_LAT)
    longitude = _f64(state, _LAST_LON)
    if flags & ~_FLAG_HAS_LAST or count < 0 or not math.isfinite(mean) or not m2 >= 0.0:
        return False
    if np.int64(hours.sum()) != count or ((flags & _FLAG_HAS_LAST) != 0) != (count > 0):
        return False
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        return False
    recent = state[_RECENT : _RECENT + 8 * n_recent].view(np.int64)
    return n_recent < 2 or bool(np.all(recent[:-1] <= recent[1:]))


@_compiled
def _haversine_km(lat1, lon1, lat2, lon2):  # type: ignore[no-untyped-def]
    phi1 = lat1 * _DEG_TO_RAD
    phi2 = lat2 * _DEG_TO_RAD
    half_dphi = (phi2 - phi1) / 2.0
    half_dlambda = (lon2 - lon1) * _DEG_TO_RAD / 2.0
    sin_dphi = math.sin(half_dphi)
    sin_dlambda = math.sin(half_dlambda)
    a = sin_dphi * sin_dphi + math.cos(phi1) * math.cos(phi2) * (sin_dlambda * sin_dlambda)
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@_compiled
def _count_in_window(recent, start_ms, end_ms):  # type: ignore[no-untyped-def]
    """Times within ``[start_ms, end_ms]`` (``recent`` is sorted): bisect_right(end) - bisect_left(start)."""
    return np.searchsorted(recent, end_ms, side="right") - np.searchsorted(recent, start_ms, side="left")


@_compiled
def _merged(recent, position, time_ms, index):  # type: ignore[no-untyped-def]
    """Item ``index`` of ``recent`` with ``time_ms`` inserted at ``position``."""
    if index < position:
        return recent[index]
    if index == position:
        return time_ms
    return recent[index - 1]


@_compiled
def _section(work, header, index):  # type: ignore[no-untyped-def]
    return work[header[2 + index] : header[3 + index]]


@_compiled
def step_in_workspace(work, state, ids):  # type: ignore[no-untyped-def]
    """The step on the arrays of a workspace built by ``_workspace``."""
    header = work[: 8 * _HEADER_SLOTS].view(np.int64)
    n_trees, n_nodes = header[0], header[1]
    _step(
        _section(work, header, 0).view(np.float64),
        _section(work, header, 1).view(np.float64),
        _section(work, header, 2)[: 4 * N_FEATURES].view(np.float32),
        _section(work, header, 6)[: 8 * (n_trees + 1)].view(np.int64),
        _section(work, header, 7)[: 16 * n_nodes].view(np.int32).reshape((n_nodes, 4)),
        _section(work, header, 8)[: 8 * n_nodes].view(np.float64),
        _section(work, header, 9)[: 8 * n_trees].view(np.int64),
        _section(work, header, 3)[: 8 * N_OUT].view(np.float64),
        _section(work, header, 4),
        _section(work, header, 5),
        state,
        ids,
    )


@_compiled
def _step(event, params, x32, offsets, nodes, leaf_value, cursors, out, state_out, ids_out, state, ids):  # type: ignore[no-untyped-def]
    """The step on arrays (see the module docstring); results in ``out``, ``state_out`` and ``ids_out``."""
    ievent = event.view(np.int64)
    if ids.shape[0] % 16 != 0:
        out[O_STATUS] = STATUS_BAD_IDS
        return
    n_ids = ids.shape[0] // 16
    hashes = ids[: 8 * n_ids].view(np.int64)
    times = ids[8 * n_ids :].view(np.int64)
    for index in range(n_ids):
        if hashes[index] == ievent[E_ID_HASH]:
            out[O_STATUS] = STATUS_DUPLICATE
            return
    if not _readable(state):
        out[O_STATUS] = STATUS_BAD_STATE
        return
    out[O_STATUS] = STATUS_SCORED
    time_ms = ievent[E_TIME]
    out[O_LATE] = 1.0 if n_ids > 0 and time_ms < times.max() - np.int64(params[P_MAX_OUT_OF_ORDERNESS_MS]) else 0.0
    hour = _assess(event, params, state, out)
    for index in range(N_FEATURES):  # the model reads float32 features, as the batch walk does
        x32[index] = np.float32(out[O_FEATURES + index])
    out[O_DEPTH] = _depth(x32, offsets, nodes, leaf_value, np.int64(params[P_TREE_DEPTH]), cursors)
    out[O_STATE_SIZE] = _write_state(event, params, state, hour, state_out)
    out[O_IDS_SIZE] = _write_ids(
        ievent[E_ID_HASH], time_ms, np.int64(params[P_DEDUP_WINDOW_MS]), hashes, times, ids_out
    )


@_compiled
def _assess(event, params, state, out):  # type: ignore[no-untyped-def]
    """Features, fired rules and the rules score into ``out`` (``process_event``); the event's local hour bin."""
    ievent = event.view(np.int64)
    time_ms = ievent[E_TIME]
    count = _i64(state, _COUNT)
    mean = _f64(state, _MEAN)
    hours = state[_HOURS : _HOURS + 4 * HOURS_PER_DAY].view(np.uint32)
    amount = event[E_AMOUNT]
    min_history = np.int64(params[P_MIN_HISTORY])
    std = math.sqrt(_f64(state, _M2) / (count - 1) if count > 1 else 0.0)
    zscore = (amount - mean) / max(std, params[P_MIN_STD]) if count >= 2 else 0.0
    distance = 0.0
    speed = 0.0
    if (state[3] & _FLAG_HAS_LAST) != 0:
        distance = _haversine_km(_f64(state, _LAST_LAT), _f64(state, _LAST_LON), event[E_LATITUDE], event[E_LONGITUDE])
        interval_ms = max(abs(time_ms - _i64(state, _LAST_TIME)), np.int64(params[P_MIN_INTERVAL_MS]), np.int64(1))
        speed = distance / (interval_ms / 3_600_000.0)
    local_hour = ((time_ms + ievent[E_OFFSET] * 60 * 1000) % 86_400_000) / 3_600_000
    deviation = _hours_from_typical(hours, local_hour)
    hour = np.int64(local_hour)
    hour_share = 0.0
    if count != 0:
        near = (
            np.int64(hours[(hour - 1) % HOURS_PER_DAY])
            + np.int64(hours[hour])
            + np.int64(hours[(hour + 1) % HOURS_PER_DAY])
        )
        hour_share = near / count
    window_ms = np.int64(params[P_VELOCITY_WINDOW_MS])
    velocity_count = _count_in_window(_recent_times(state), time_ms - window_ms, time_ms)
    blacklisted = event[E_BLACKLISTED] != 0.0

    fired_high_value = amount >= event[E_LIMIT] or (count >= min_history and zscore >= params[P_ZSCORE_THRESHOLD])
    fired_velocity = velocity_count + 1 > params[P_MAX_TRANSACTIONS]
    fired_travel = distance >= params[P_MIN_DISTANCE_KM] and speed > params[P_MAX_SPEED_KMH]
    fired_hour = (
        count >= min_history and deviation >= params[P_MIN_HOURS_FROM_TYPICAL] and hour_share < params[P_MAX_HOUR_SHARE]
    )
    keep = 1.0  # noisy-OR of the fired rules' weights, in rule-id order (rules_score)
    if fired_high_value:
        keep *= 1.0 - params[P_HIGH_VALUE_WEIGHT]
    if fired_velocity:
        keep *= 1.0 - params[P_VELOCITY_WEIGHT]
    if fired_travel:
        keep *= 1.0 - params[P_TRAVEL_WEIGHT]
    if fired_hour:
        keep *= 1.0 - params[P_HOUR_WEIGHT]
    if blacklisted:
        keep *= 1.0 - params[P_BLACKLIST_WEIGHT]
    out[O_RULES_SCORE] = 1.0 - keep
    out[O_FIRED] = fired_high_value + 2 * fired_velocity + 4 * fired_travel + 8 * fired_hour + 16 * blacklisted
    out[O_FEATURES] = zscore
    out[O_FEATURES + 1] = float(velocity_count)
    out[O_FEATURES + 2] = deviation
    out[O_FEATURES + 3] = speed
    out[O_FEATURES + 4] = 1.0 if blacklisted else 0.0
    out[O_FEATURES + 5] = amount / mean if count >= 1 and mean > 0.0 else 1.0
    return hour


@_compiled
def _hours_from_typical(hours, local_hour):  # type: ignore[no-untyped-def]
    """Hours between ``local_hour`` and the circular mean of the hour profile; 0 if it has none."""
    cos_sum = 0.0
    sin_sum = 0.0
    for bin_ in range(HOURS_PER_DAY):
        cos_sum += hours[bin_] * _HOUR_COS[bin_]
    for bin_ in range(HOURS_PER_DAY):
        sin_sum += hours[bin_] * _HOUR_SIN[bin_]
    if math.hypot(cos_sum, sin_sum) < MIN_RESULTANT:
        return 0.0
    typical_hour = math.atan2(sin_sum, cos_sum) / _TWO_PI * HOURS_PER_DAY % HOURS_PER_DAY
    difference = np.fmod(abs(local_hour - typical_hour), 24.0)
    return min(difference, 24.0 - difference)


@_compiled
def _recent_times(state):  # type: ignore[no-untyped-def]
    n_recent = np.int64(state[_N_RECENT]) | (np.int64(state[_N_RECENT + 1]) << 8)
    return state[_RECENT : _RECENT + 8 * n_recent].view(np.int64)


@_compiled
def _write_state(event, params, state, hour, state_out):  # type: ignore[no-untyped-def]
    """The state with the event folded in (``CustomerState.updated``, then ``to_bytes``); its size."""
    time_ms = event.view(np.int64)[E_TIME]
    amount = event[E_AMOUNT]
    count = _i64(state, _COUNT)
    mean = _f64(state, _MEAN)
    delta = amount - mean
    new_mean = mean + delta / (count + 1)
    state_out[:_RECENT] = state[:_RECENT]
    state_out[3] = _FLAG_HAS_LAST
    _put_i64(state_out, _COUNT, count + 1)
    _put_f64(state_out, _MEAN, new_mean)
    _put_f64(state_out, _M2, _f64(state, _M2) + delta * (amount - new_mean))
    state_out[_HOURS : _HOURS + 4 * HOURS_PER_DAY].view(np.uint32)[hour] += np.uint32(1)
    _put_f64(state_out, _LAST_LAT, event[E_LATITUDE])
    _put_f64(state_out, _LAST_LON, event[E_LONGITUDE])
    _put_i64(state_out, _LAST_TIME, time_ms)
    recent = _recent_times(state)
    n_recent = recent.shape[0]
    position = n_recent  # where the event's time goes among the sorted recent times
    while position > 0 and recent[position - 1] > time_ms:
        position -= 1
    newest = time_ms if position == n_recent else recent[n_recent - 1]
    horizon = newest - np.int64(params[P_VELOCITY_WINDOW_MS])
    keep_from = np.int64(0)
    while keep_from < n_recent + 1 and _merged(recent, position, time_ms, keep_from) < horizon:
        keep_from += 1
    keep_from = max(keep_from, n_recent + 1 - np.int64(params[P_MAX_TRACKED_EVENTS]))
    kept = n_recent + 1 - keep_from
    new_recent = state_out[_RECENT : _RECENT + 8 * kept].view(np.int64)
    for index in range(kept):
        new_recent[index] = _merged(recent, position, time_ms, keep_from + index)
    state_out[_N_RECENT] = kept & 0xFF
    state_out[_N_RECENT + 1] = kept >> 8
    size = _RECENT + 8 * kept
    state_out[size : size + 4].view(np.uint32)[0] = _crc32(state_out, size)
    return size + 4


@_compiled
def _write_ids(id_hash, time_ms, window_ms, hashes, times, ids_out):  # type: ignore[no-untyped-def]
    """The ids with this one remembered (``RecentTransactions.remember``, then ``packed``); their size."""
    n_ids = hashes.shape[0]
    horizon = max(times.max(), time_ms) - window_ms if n_ids > 0 else time_ms - window_ms
    expired = 0
    while expired < n_ids and times[expired] < horizon:
        expired += 1
    expired = max(expired, n_ids + 1 - MAX_REMEMBERED_IDS)
    remembered = n_ids + 1 - expired
    new_hashes = ids_out[: 8 * remembered].view(np.int64)
    new_times = ids_out[8 * remembered : 16 * remembered].view(np.int64)
    for index in range(remembered):
        source = expired + index
        new_hashes[index] = hashes[source] if source < n_ids else id_hash
        new_times[index] = times[source] if source < n_ids else time_ms
    return 16 * remembered


@functools.cache
def _c_step() -> Any:
    """A ctypes callable of :func:`step_in_workspace` compiled as a C function, or ``None`` without numba."""
    try:
        from numba import carray, cfunc, types
    except ImportError:  # pragma: no cover - numba ships with shap in this environment
        return None
    bytes_ = types.CPointer(types.uint8)
    signature = types.void(bytes_, types.int64, bytes_, types.int64, bytes_, types.int64)

    def entry(work_p, n_work, state_p, n_state, ids_p, n_ids):  # type: ignore[no-untyped-def]
        step_in_workspace(carray(work_p, (n_work,)), carray(state_p, (n_state,)), carray(ids_p, (n_ids,)))

    compiled = cfunc(signature, cache=True, nopython=True)(entry)
    # the workspace's address as a plain int; the packed state and ids as bytes, passed without a
    # copy; PYFUNCTYPE keeps the GIL (releasing and taking it back costs more than the step)
    argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_char_p, ctypes.c_int64, ctypes.c_char_p, ctypes.c_int64]
    return ctypes.PYFUNCTYPE(None, *argtypes)(compiled.address)
