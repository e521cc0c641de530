"""Per-merchant state (``store_id``): windowed aggregates that the order of arrival cannot change.

``MERCHANT_STATE`` keeps, per window of ``core.windows`` (``features.windows``: by default 1 h,
1 d, 7 d, 30 d), a ring of time tiles, each an event count and the amount sum in integer
thousandths of the currency's unit: an integer sum is exact, so a tile's total does not depend
on the order its events came in. A merchant feature for an event at ``t`` reads only whole tiles that ended at least
``merchant_lag`` before ``t`` (``MERCHANT_PARAMS``): events that arrive within the lag, in any
order and from any task, all count before any event reads their tile. That is what lets a
second keyed stage of the stream compute them as batch does (docs/adr/0012-two-entities-in-the-stream.md).

Memory is bounded: ``MERCHANT_STATE.itemsize`` bytes a merchant, whatever its volume. The ring
holds ``MERCHANT_RING`` tiles: the window's ``TILES_PER_WINDOW`` behind the lag, and the tiles
within the lag; so the lag is at most ``LAG_TILES`` tiles of the shortest window
(``core.windows.check_merchant_lag``: 15 minutes for 1 h).

Serialized (``encode_merchant_state``, the stream's merchant stage) it is the customer state's
4-byte header with ``SM`` and ``MERCHANT_STATE_VERSION``, the record and a CRC32.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamflow.core.compiled import compiled, compiled_inline, literally
from streamflow.core.errors import StateError, StateVersionError
from streamflow.core.features import (
    FeatureSet,
    compute_features,
    merchant_feature,
    outcome_feature,
    outcomes_by_entity,
    register_as,
    window_family,
)
from streamflow.core.signals import SIGNALS
from streamflow.core.state import (
    CRC_BYTES,
    HEADER_BYTES,
    STATE_BAD_CHECKSUM,
    STATE_IMPOSSIBLE,
    STATE_OTHER_VERSION,
    STATE_READ,
    STATE_TRUNCATED,
    checksum_matches,
    header_status,
    seal,
    state_error,
    write_header,
)
from streamflow.core.windows import (
    MERCHANT_RING,
    N_WINDOWS,
    TILES_PER_WINDOW,
    add_to_ring,
    check_merchant_lag,
    ring_of,
    ring_totals,
    tile_lengths_ms,
    tile_of,
)

AMOUNT_UNITS = 1000  # amounts are summed as integer thousandths of the currency's unit

MERCHANT_STATE = np.dtype(
    [
        ("event_count", np.int64),
        ("newest_event_ms", np.int64),  # the newest event time folded
        ("window_newest_tile", np.int64, (N_WINDOWS,)),  # per window: the newest tile seen
        ("window_counts", np.uint32, (N_WINDOWS, MERCHANT_RING)),  # events per tile, ring by tile % MERCHANT_RING
        ("window_amount_units", np.int64, (N_WINDOWS, MERCHANT_RING)),  # amount sums per tile, in AMOUNT_UNITS
        # known outcomes, in tiles of their labelled_at: per window the newest tile, then outcomes and frauds per tile
        ("outcome_newest_tile", np.int64, (N_WINDOWS,)),
        ("window_outcomes", np.uint32, (N_WINDOWS, MERCHANT_RING)),
        ("window_frauds", np.uint32, (N_WINDOWS, MERCHANT_RING)),
    ],
    align=True,
)
MERCHANT_PARAMS = np.dtype(
    [("lag_ms", np.int64), ("window_tile_ms", np.int64, (N_WINDOWS,))],  # the lag, the windows' tile lengths
    align=True,
)
MERCHANT_STATE_VERSION = 2  # 2: the known outcomes
_MAGIC_M = 77  # b"SM"
_RECORD_BYTES = MERCHANT_STATE.itemsize
MAX_MERCHANT_STATE_BYTES = HEADER_BYTES + _RECORD_BYTES + CRC_BYTES


def merchant_params(lag_ms: int, windows: Sequence[str]) -> NDArray[Any]:
    """The one-record ``MERCHANT_PARAMS`` array: the lag and the ``windows`` the state keeps.

    Raises:
        ConfigError: The lag is longer than the rings allow (``core.windows.check_merchant_lag``).

    """
    check_merchant_lag(lag_ms, windows)
    params = np.zeros(1, dtype=MERCHANT_PARAMS)
    params[0]["lag_ms"] = lag_ms
    params[0]["window_tile_ms"] = tile_lengths_ms(windows)
    return params


@compiled
def amount_units(amount: float) -> int:
    """``amount`` in integer thousandths of its currency's unit, rounded half to even."""
    return int(np.round(amount * AMOUNT_UNITS))


@compiled
def fold_merchant(state: Any, time_ms: int, amount: float, params: Any) -> None:
    """Fold one event into the merchant's ``state`` (in place), after its features were read."""
    state["event_count"] += 1
    state["newest_event_ms"] = max(state["newest_event_ms"], time_ms)
    units = amount_units(amount)
    for window in range(N_WINDOWS):
        add_to_ring(
            state["window_newest_tile"],
            state["window_counts"],
            state["window_amount_units"],
            window,
            params["window_tile_ms"][window],
            time_ms,
            units,
        )


@compiled
def fold_outcome(state: Any, labelled_at_ms: int, is_fraud: bool, params: Any) -> None:
    """Fold one known outcome of a transaction at this merchant into ``state``, in the tiles of its ``labelled_at``."""
    for window in range(N_WINDOWS):
        add_to_ring(
            state["outcome_newest_tile"],
            state["window_outcomes"],
            state["window_frauds"],
            window,
            params["window_tile_ms"][window],
            labelled_at_ms,
            1 if is_fraud else 0,
        )


@compiled
def fold_known_outcomes(state: Any, outcomes: Any, first: int, end: int, time_ms: int, params: Any) -> tuple[int, int]:
    """Fold the merchant's ``outcomes[first:end]`` known before an event at ``time_ms``, into ``state``.

    The rule batch and stream share: an outcome counts for the events after its ``labelled_at``.
    ``outcomes`` are ``OUTCOME_INPUT`` records of this merchant, in ``labelled_at`` order; those
    not known yet wait for a later event. Returns where they start, and how many folded outcomes
    came after a scored event had read their tile (:func:`read_too_late`: those events counted
    fewer outcomes than batch's).
    """
    too_late = 0
    while first < end and outcomes[first]["labelled_at_ms"] < time_ms:
        labelled_at_ms = outcomes[first]["labelled_at_ms"]
        too_late += read_too_late(state, labelled_at_ms, params)
        fold_outcome(state, labelled_at_ms, outcomes[first]["is_fraud"], params)
        first += 1
    return first, too_late


@compiled
def merchant_outcome_totals(state: Any, window: int, time_ms: int, params: Any) -> tuple[int, int]:
    """Outcomes and frauds known in the window's whole tiles that ended at least the lag before ``time_ms``.

    The tiles :func:`merchant_window_totals` reads, by ``labelled_at``: only outcomes known
    before the event count.
    """
    last_tile = last_whole_tile(window, time_ms, params)
    outcomes, frauds = ring_totals(
        state["outcome_newest_tile"], state["window_outcomes"], state["window_frauds"], window, last_tile
    )
    return outcomes, int(frauds)


@compiled
def merchant_window_totals(state: Any, window: int, time_ms: int, params: Any) -> tuple[int, int]:
    """Events and their amount units in the window's whole tiles that ended at least the lag before ``time_ms``.

    The ``TILES_PER_WINDOW`` tiles ending with :func:`last_whole_tile`: the window's length,
    exact to a tile, behind the lag.
    """
    last_tile = last_whole_tile(window, time_ms, params)
    count, units = ring_totals(
        state["window_newest_tile"], state["window_counts"], state["window_amount_units"], window, last_tile
    )
    return count, int(units)


@compiled
def last_whole_tile(window: int, time_ms: int, params: Any) -> int:
    """The window's last tile whose end is at or before ``time_ms`` minus the lag."""
    return int((time_ms - params["lag_ms"]) // params["window_tile_ms"][window] - 1)


@compiled
def read_too_late(state: Any, time_ms: int, params: Any) -> bool:
    """Whether an event at ``time_ms`` comes after a scored event read its tile: its features then differ from batch.

    The newest folded event read, in each window, the whole tiles that ended the lag before it.
    """
    if state["event_count"] == 0:
        return False
    read_until = state["newest_event_ms"] - params["lag_ms"]
    for window in range(N_WINDOWS):
        tile_ms = params["window_tile_ms"][window]
        if (tile_of(tile_ms, time_ms) + 1) * tile_ms <= read_until:
            return True
    return False


@compiled
def encode_merchant_state(record_bytes: Any, out: Any) -> int:
    """The serialized merchant state of the record held in ``record_bytes`` into ``out``; its size in bytes."""
    write_header(out, _MAGIC_M, MERCHANT_STATE_VERSION)
    out[HEADER_BYTES : HEADER_BYTES + _RECORD_BYTES] = record_bytes
    return seal(out, HEADER_BYTES + _RECORD_BYTES)


@compiled
def decode_merchant_state(data: Any, record_bytes: Any) -> int:
    """Read serialized ``data`` into ``record_bytes`` (empty ``data``: a new merchant); ``STATE_READ`` or why not."""
    record_bytes[:] = 0
    if data.shape[0] == 0:
        return STATE_READ
    status = header_status(data, _MAGIC_M, MERCHANT_STATE_VERSION)
    if status != STATE_READ:
        return status
    end = HEADER_BYTES + _RECORD_BYTES
    if data.shape[0] != end + CRC_BYTES:
        return STATE_TRUNCATED
    if not checksum_matches(data, end):
        return STATE_BAD_CHECKSUM
    record_bytes[:] = data[HEADER_BYTES:end]
    state = record_bytes.view(MERCHANT_STATE)[0]
    return STATE_READ if state["event_count"] >= 0 else STATE_IMPOSSIBLE


def merchant_state_error(status: int) -> StateError:
    """The coded error for a ``decode_merchant_state`` status other than ``STATE_READ``."""
    if status == STATE_OTHER_VERSION:
        return StateVersionError(
            f"merchant state serialization version is not {MERCHANT_STATE_VERSION}: written by another "
            "version of the job (docs/runbooks.md, 'Customer state from another version')"
        )
    return state_error(status, "merchant")


def _merchant_window_features(label: str) -> None:
    """Register the merchant's count, amount sum and mean amount over window ``label``, behind the lag."""
    window = ring_of(label)

    @compiled_inline
    def totals(state: Any, event: Any, params: Any) -> tuple[int, int]:
        return merchant_window_totals(state, window(params), event["event_time_ms"], params)

    def count(state: Any, event: Any, signals: Any, params: Any) -> float:
        return float(totals(state, event, params)[0])

    def amount_sum(state: Any, event: Any, signals: Any, params: Any) -> float:
        return totals(state, event, params)[1] / AMOUNT_UNITS

    def amount_mean(state: Any, event: Any, signals: Any, params: Any) -> float:
        events, units = totals(state, event, params)
        return units / AMOUNT_UNITS / events if events > 0 else 0.0

    definitions = {
        f"merchant_count_{label}": (count, "Events at the merchant"),
        f"merchant_amount_sum_{label}": (amount_sum, "Sum of the amounts at the merchant"),
        f"merchant_amount_mean_{label}": (amount_mean, "Mean amount at the merchant (0.0 with none)"),
    }
    scope = (
        f"in the {label} of whole tiles (1/{TILES_PER_WINDOW} of it) that ended at least "
        "features.merchant_lag_minutes before this event."
    )
    register_as(definitions, scope, merchant_feature)


def _merchant_outcome_features(label: str) -> None:
    """Register the merchant's known frauds and fraud rate over window ``label``, behind the lag."""
    window = ring_of(label)

    def fraud_count(state: Any, event: Any, signals: Any, params: Any) -> float:
        return float(merchant_outcome_totals(state, window(params), event["event_time_ms"], params)[1])

    def fraud_rate(state: Any, event: Any, signals: Any, params: Any) -> float:
        ring, time_ms = window(params), event["event_time_ms"]
        frauds = merchant_outcome_totals(state, ring, time_ms, params)[1]
        events = merchant_window_totals(state, ring, time_ms, params)[0]
        return frauds / events if events > 0 else 0.0

    definitions = {
        f"merchant_fraud_count_{label}": (fraud_count, "Fraud outcomes of the merchant's transactions known"),
        f"merchant_fraud_rate_{label}": (
            fraud_rate,
            "Fraud outcomes known over the merchant's events (0.0 with none), both counted",
        ),
    }
    scope = (
        f"in the {label} of whole tiles (1/{TILES_PER_WINDOW} of it; outcomes by their labelled_at) that "
        "ended at least features.merchant_lag_minutes before this event."
    )
    register_as(definitions, scope, outcome_feature)


window_family(_merchant_window_features)
window_family(_merchant_outcome_features)


@compiled
def merchant_step(state: Any, event: Any, params: Any, signals: Any, features: Any, key: str) -> None:
    """One event at a merchant: the merchant features named in ``key``, then its fold into ``state``."""
    compute_features(state, event, signals, params, features, literally(key))
    fold_merchant(state, event["event_time_ms"], event["amount"], params)


@compiled
def _merchant_replay(
    events: Any,
    merchants: Any,
    n_merchants: int,
    params: Any,
    n_features: int,
    key: str,
    outcomes: Any,
    outcome_bounds: Any,
) -> Any:
    states = np.zeros(n_merchants, dtype=MERCHANT_STATE)
    signals = np.zeros(1, dtype=SIGNALS)  # merchant features read no signals
    features = np.zeros((events.shape[0], n_features), dtype=np.float64)
    next_outcome = outcome_bounds[:-1].copy()  # per merchant, its first outcome not folded yet
    for index in range(events.shape[0]):
        merchant = merchants[index]
        next_outcome[merchant] = fold_known_outcomes(
            states[merchant],
            outcomes,
            next_outcome[merchant],
            outcome_bounds[merchant + 1],
            events[index]["event_time_ms"],
            params[0],
        )[0]
        merchant_step(states[merchant], events[index], params[0], signals[0], features[index], key)
    return features


def merchant_replay(
    events: NDArray[Any],
    merchants: NDArray[np.int64],
    n_merchants: int,
    lag_ms: int,
    features: FeatureSet,
    outcomes: NDArray[Any] | None = None,
    outcome_merchants: NDArray[np.int64] | None = None,
) -> NDArray[np.float64]:
    """Every event's merchant features (``features.merchant_names``), one state per merchant.

    Events and known outcomes are replayed in one time order: before each event, its merchant's
    outcomes known before it are folded (:func:`fold_known_outcomes`, the stream's rule too).

    Args:
        events: ``EVENT_INPUT`` records of the accepted events, in event-time order.
        merchants: Each event's merchant as an index in ``range(n_merchants)``.
        n_merchants: How many merchants.
        lag_ms: How long before an event a tile must have ended to count (``MERCHANT_PARAMS``).
        features: The model's features.
        outcomes: ``OUTCOME_INPUT`` records of the known outcomes, in ``labelled_at`` order (none: no outcome known).
        outcome_merchants: Each outcome's merchant as an index in ``range(n_merchants)``.

    """
    params = merchant_params(lag_ms, features.windows)
    known, bounds = outcomes_by_entity(outcomes, outcome_merchants, n_merchants)
    vectors: NDArray[np.float64] = _merchant_replay(
        events, merchants, n_merchants, params, len(features.merchant_names), features.merchant_key, known, bounds
    )
    return vectors
