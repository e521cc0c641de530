"""The stream's compiled calls, one a batch: the customer's (dedup, lateness, the step, the walks), the merchant's.

The stream keeps each customer as two byte strings: the core's serialized ``CUSTOMER_STATE``
(``streamflow.core.state.encode_state``) and the remembered transaction ids
(``streamflow.core.dedup``). :meth:`StreamStep.batch` hands a batch's events and their customers'
strings to one function compiled by numba, which decodes each state once, runs the core's
:func:`~streamflow.core.features.step` (the same function the batch replay runs) for each event in
order, walks the bundle's trees with the batch walk (``streamflow.core.forest``) over all the
batch's rows and encodes each new state once. It adds no arithmetic of its own.

The call goes through a C entry point with one workspace buffer holding every array it reads
or writes: numba's boxing layer would hand its runtime objects that later take the GIL with
``PyGILState_Ensure``, which deadlocks in PyFlink's embedded interpreter, and each argument
ctypes converts costs about 0.2 us.

With merchant features (ADR 0012), the customer stage's :class:`StreamStep` computes the customer
features and no walk; :class:`MerchantStep`, in the merchant stage, one call a batch, runs the
core's ``merchant_step`` on the packed merchant states, puts the customer's and the merchant's
features in the model's order and walks the trees.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import struct
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from streamflow.core.boosting import ANOMALY_INPUT, BOOSTED_LEAF, BOOSTED_NODE, champion_inputs, champion_scores
from streamflow.core.compiled import compiled
from streamflow.core.contract import Event
from streamflow.core.dedup import MAX_IDS_BYTES, id_hash, is_late, is_remembered, remember_id, unpacked_ids
from streamflow.core.errors import ConfigError, StateInvalidError
from streamflow.core.features import FeatureSet, feature_set, step
from streamflow.core.forest import WALK_NODE, ModelBundle, normalised_anomaly, serial_depths
from streamflow.core.merchant import (
    MAX_MERCHANT_STATE_BYTES,
    MERCHANT_PARAMS,
    MERCHANT_STATE,
    decode_merchant_state,
    encode_merchant_state,
    fold_known_outcomes,
    merchant_params,
    merchant_state_error,
    merchant_step,
    read_too_late,
)
from streamflow.core.rules import RULE_IDS, RULE_NAMES, RULE_PARAMS, RulesConfig, rule_params
from streamflow.core.signals import EVENT_INPUT, SIGNALS, event_input_of
from streamflow.core.state import (
    CUSTOMER_STATE,
    MAX_STATE_BYTES,
    OUTCOME_INPUT,
    STATE_READ,
    decode_state,
    encode_state,
    field_layout,
    fold_known_customer_outcomes,
    state_error,
)

# A customer batch's sizes and settings, and what it counts (the first section of its workspace).
CUSTOMER_BATCH = np.dtype(
    [
        ("capacity", np.int64),  # events and customers the workspace holds
        ("n_events", np.int64),
        ("n_customers", np.int64),
        ("waiting_capacity", np.int64),  # outcomes
        ("ids_capacity", np.int64),  # bytes of packed ids
        ("max_out_of_orderness_ms", np.int64),
        ("dedup_window_ms", np.int64),
        ("outcomes_too_late", np.int64),  # out: folded frauds a later event had missed (fold_known_customer_outcomes)
    ],
    align=True,
)
# What turns the walks into scores: the forest's normalisation, the champion's sigmoid, override and size.
MODEL_PARAMS = np.dtype(
    [
        ("has_forest", np.int64),
        ("denominator", np.float64),
        ("norm_low", np.float64),
        ("norm_span", np.float64),
        ("has_champion", np.int64),
        ("sigmoid", np.float64),
        ("override_input", np.int64),
        ("champion_trees", np.int64),
        ("champion_nodes", np.int64),
    ],
    align=True,
)
STATUS_SCORED, STATUS_DUPLICATE, STATUS_BAD_IDS = -1, -2, -3  # an event's; a customer's, else decode_state's
_NO_TREES: tuple[NDArray[Any], ...] = (
    np.zeros(1, dtype=np.int64),
    np.zeros(1, dtype=WALK_NODE),
    np.zeros(1, dtype=np.float64),
)
_NO_CHAMPION: tuple[NDArray[Any], ...] = (
    np.zeros(1, dtype=np.int64),
    np.array([(0.0, 0, 0, BOOSTED_LEAF, 0, 0)], dtype=BOOSTED_NODE),
    np.zeros(1, dtype=np.float64),
)
N_RULES = len(RULE_IDS)
# After the features, the champion reads what the compiled call writes in this order (``_champion_inputs``)
CHAMPION_EXTRA_INPUTS = len(champion_inputs(()))
if champion_inputs(()) != (*RULE_IDS, "rules_score", ANOMALY_INPUT):
    raise TypeError("the champion's inputs after the features must be the verdicts, the rules score, ml_score")


def struct_of(dtype: np.dtype[Any], names: tuple[str, ...] | None = None) -> struct.Struct:
    """The ``struct`` layout of a numpy record of 8-byte numbers and booleans, padding included (to pack and read fast).

    With ``names`` (consecutive fields), the layout of those fields only, from the first one's offset.
    """
    codes = {"f8": "d", "i8": "q", "b1": "?"}
    chosen = names or dtype.names or ()
    at = start = field_layout(dtype, chosen[0])[1]
    layout = "="
    for name in chosen:
        field, offset = field_layout(dtype, name)
        layout += f"{offset - at}x" * (offset > at) + codes[field.str[1:]]
        at = offset + field.itemsize
    if names is None:
        layout += f"{dtype.itemsize - at}x" * (dtype.itemsize > at)
    packing = struct.Struct(layout)
    if packing.size != (dtype.itemsize if names is None else at - start):
        raise TypeError(f"{dtype} is not a record of 8-byte numbers and booleans")
    return packing


_EVENT = struct_of(EVENT_INPUT)
_SIGNALS = struct_of(SIGNALS)
# record sizes, as compiled code reads them
_PARAMS_BYTES, _EVENT_BYTES, _SIGNALS_BYTES, _STATE_RECORD_BYTES = (
    dtype.itemsize for dtype in (RULE_PARAMS, EVENT_INPUT, SIGNALS, CUSTOMER_STATE)
)
_CUSTOMER_BATCH_BYTES = CUSTOMER_BATCH.itemsize
_STATE_SLOT_BYTES = MAX_STATE_BYTES + 8  # a packed state's room in the batch; a longer one is cut (it cannot be read)
_MERCHANT_PARAMS_BYTES = MERCHANT_PARAMS.itemsize
_MODEL_PARAMS_BYTES = MODEL_PARAMS.itemsize
_MERCHANT_RECORD_BYTES = MERCHANT_STATE.itemsize
_OUTCOME_BYTES = OUTCOME_INPUT.itemsize
_WALK_NODE_BYTES = WALK_NODE.itemsize
_BOOSTED_NODE_BYTES = BOOSTED_NODE.itemsize
BATCH_CAPACITY = 64  # events a workspace holds at first (the mini-batch size); it grows
_SIGNAL_NAMES = SIGNALS.names or ()
# Every event needs the verdicts and the score (they end the SIGNALS record); the rest only an alert.
_VERDICTS_AT = field_layout(SIGNALS, RULE_NAMES[0])[1]
_VERDICTS_AND_SCORE = struct_of(SIGNALS, (*RULE_NAMES, "rules_score"))
if _SIGNAL_NAMES[-len(RULE_NAMES) - 1 :] != (*RULE_NAMES, "rules_score"):
    raise TypeError("SIGNALS must end with the rules' verdicts and the rules score")
if [field_layout(SIGNALS, name)[1] - _VERDICTS_AT for name in RULE_NAMES] != list(range(len(RULE_NAMES))):
    raise TypeError("the rules' verdicts must be consecutive bytes of SIGNALS (the champion reads them so)")


_FIRED_RULES = {
    verdicts: tuple(rule_id for rule_id, fired in zip(RULE_IDS, verdicts, strict=True) if fired)
    for verdicts in itertools.product((False, True), repeat=len(RULE_IDS))
}


def verdicts_of(signals: bytes | memoryview) -> tuple[tuple[str, ...], float]:
    """The fired rules' ids and the rules score of a ``SIGNALS`` record."""
    *verdicts, rules_score = _VERDICTS_AND_SCORE.unpack_from(signals, _VERDICTS_AT)
    return _FIRED_RULES[tuple(verdicts)], rules_score


def model_params(bundle: ModelBundle | None) -> NDArray[Any]:
    """The bundle's ``MODEL_PARAMS`` record (all zero without a bundle)."""
    params = np.zeros(1, dtype=MODEL_PARAMS)
    if bundle is None:
        return params
    record = params[0]
    record["has_forest"] = 1
    record["denominator"], record["norm_low"], record["norm_span"] = bundle.normalisation
    champion, arrays = bundle.manifest.champion, bundle.champion_arrays
    if champion is not None and arrays is not None:
        record["has_champion"] = 1
        record["sigmoid"] = champion.sigmoid
        record["override_input"] = bundle.override_input
        record["champion_trees"] = arrays["tree_offsets"].shape[0] - 1
        record["champion_nodes"] = arrays["feature"].shape[0]
    return params


def _champion_sections(bundle: ModelBundle | None) -> dict[str, NDArray[Any]]:
    """The champion's walk (``ModelBundle.champion_walk``) by section name (placeholders without a champion)."""
    walk = bundle.champion_walk() if bundle is not None and bundle.champion_arrays is not None else _NO_CHAMPION
    return dict(zip(_CHAMPION_SECTIONS, walk, strict=True))


def champion_width(features: FeatureSet) -> int:
    """How many inputs the champion reads (``streamflow.core.boosting.champion_inputs``)."""
    return len(champion_inputs(features.names))


class StepResult(NamedTuple):
    """One event's step: what the stream records and the customer's new packed state."""

    late: bool
    # the FeatureSet's vector (by position or name); before a merchant stage, the customer's features only
    features: tuple[float, ...]
    fired_rules: tuple[str, ...]
    rules_score: float
    depth: float | None
    signals: bytes  # the SIGNALS record (``signals_of``)
    state: bytes
    ids: bytes
    ml_score: float | None = None  # the forest's normalised score (None: rules only, or walked later)
    champion_score: float | None = None  # None: the bundle has no champion
    champion_inputs: bytes = b""  # the champion's inputs as it read them (float64), what explains an alert
    waiting: bytes = b""  # the customer's outcomes not known at this event: they wait for a later one


class HandedOn(NamedTuple):
    """One event's customer step before the merchant stage (:meth:`StreamStep.hand_on`)."""

    late: bool
    signals: bytes  # the SIGNALS record: the merchant stage writes the verdicts from it
    state: bytes
    ids: bytes
    waiting: bytes  # the customer's outcomes not known at this event
    event_input: bytes  # the EVENT_INPUT record, as MerchantStep reads it
    customer_features: bytes  # the customer's features (float64, FeatureSet.customer_names order)


def signals_of(step: StepResult) -> dict[str, Any]:
    """The step's ``SIGNALS`` record by field name: what the fired rules' reasons are written from."""
    return dict(zip(_SIGNAL_NAMES, _SIGNALS.unpack(step.signals), strict=True))


class CustomerBatch(NamedTuple):
    """A batch's customer steps: per event what the stream records; per customer its new slot."""

    stepped: list[bool]  # per event: False for a repeated transaction id (nothing else of it is meant)
    late: list[bool]  # per event
    signals: list[bytes]  # per event, its SIGNALS record
    # per event: the FeatureSet's vector; before a merchant stage, the customer's features (float64 bytes)
    features: list[Any]
    event_inputs: list[bytes]  # per event, its EVENT_INPUT record (what MerchantStep reads)
    states: list[bytes]  # per customer, in the order given
    ids: list[bytes]  # per customer
    waiting: list[bytes] | None  # per customer, its outcomes not known at its events yet (None: no outcome waited)
    depths: list[float] | None  # per event (None: no bundle)
    ml_scores: list[float] | None  # per event (None: no bundle)
    champion_scores: list[float] | None  # per event (None: no champion)
    champion_inputs: list[bytes] | None  # per event, as the champion read them (float64; None: no champion)
    outcomes_read_too_late: int  # folded frauds that came after a later event of their customer


def step_result(batch: CustomerBatch, index: int) -> StepResult:
    """The batch's ``index``-th event's :class:`StepResult` (its customer's slot left empty)."""
    fired_rules, rules_score = verdicts_of(batch.signals[index])
    return StepResult(
        batch.late[index],
        batch.features[index],
        fired_rules,
        rules_score,
        None if batch.depths is None else batch.depths[index],
        batch.signals[index],
        b"",
        b"",
        None if batch.ml_scores is None else batch.ml_scores[index],
        None if batch.champion_scores is None else batch.champion_scores[index],
        b"" if batch.champion_inputs is None else batch.champion_inputs[index],
    )


class StreamStep:
    """Scores events against packed customer states, one compiled call a batch.

    Args:
        rules: Rule thresholds.
        bundle: The model whose trees give the depth (``None``: rules only, or a merchant stage walks them).
        features: The model's features (default: ``DEFAULT_FEATURES``); a bundle must read these.
        max_out_of_orderness_ms: An event older than the customer's newest by more is late.
        dedup_window_ms: How long a customer's transaction ids are remembered.

    Each customer's state is decoded once a batch and encoded once, after its last event; its
    events are stepped in order. With merchant features in ``features``, the step computes the
    customer's features only and walks no trees: the merchant stage's :class:`MerchantStep` reads
    what :meth:`batch` returns (:meth:`hand_on` for one event).

    """

    def __init__(
        self,
        rules: RulesConfig,
        bundle: ModelBundle | None,
        features: FeatureSet | None = None,
        *,
        max_out_of_orderness_ms: int,
        dedup_window_ms: int,
    ) -> None:
        self._rules = rules
        self._features = features if features is not None else feature_set()
        if bundle is not None:
            if self._features.merchant_names:
                raise ConfigError("the model reads merchant features: the merchant stage walks it (MerchantStep)")
            bundle.check_features(self._features.names)
        self._hands_on = bool(self._features.merchant_names)
        self._has_model = bundle is not None
        self._has_champion = bundle is not None and bundle.manifest.champion is not None
        self._trees: tuple[NDArray[Any], ...] = bundle.walk_arrays() if bundle is not None else _NO_TREES
        self._model = model_params(bundle)
        self._champion = _champion_sections(bundle)
        self._params = rule_params(rules, self._features.windows)
        self._bounds = {"max_out_of_orderness_ms": max_out_of_orderness_ms, "dedup_window_ms": dedup_window_ms}
        self._capacity = self._waiting_capacity = self._ids_capacity = 0
        # of the outcomes the last call folded, the frauds that came after a later event of their customer
        self.outcomes_read_too_late = 0
        self._allocate(BATCH_CAPACITY, BATCH_CAPACITY, BATCH_CAPACITY * 16)

    def _allocate(self, capacity: int, waiting_capacity: int, ids_capacity: int) -> None:
        """A workspace: ``capacity`` events and customers, ``waiting_capacity`` outcomes, ``ids_capacity`` id bytes."""
        n_features = len(self._features.customer_names)
        sizes = {"capacity": capacity, "waiting_capacity": waiting_capacity, "ids_capacity": ids_capacity}
        batch = np.zeros(1, dtype=CUSTOMER_BATCH)
        for name, value in {**sizes, **self._bounds}.items():
            batch[name] = value
        self._work, views = _workspace(
            _SECTIONS,
            batch=batch,
            params=self._params,
            events=np.zeros(capacity, dtype=EVENT_INPUT),
            transaction_hashes=np.zeros(capacity, dtype=np.int64),
            customer_of=np.zeros(capacity, dtype=np.int64),
            states_in=np.zeros(capacity * _STATE_SLOT_BYTES, dtype=np.uint8),
            state_ends=np.zeros(capacity, dtype=np.int64),
            ids_in=np.zeros(ids_capacity, dtype=np.uint8),
            ids_ends=np.zeros(capacity, dtype=np.int64),
            ids=np.zeros(ids_capacity + 16 * capacity, dtype=np.uint8),  # each customer's, room for its events
            ids_starts=np.zeros(capacity, dtype=np.int64),
            ids_sizes=np.zeros(capacity, dtype=np.int64),
            ids_scratch=np.zeros(MAX_IDS_BYTES, dtype=np.uint8),
            records=np.zeros(capacity, dtype=CUSTOMER_STATE),
            statuses=np.zeros(capacity, dtype=np.int64),
            states_out=np.zeros((capacity, MAX_STATE_BYTES), dtype=np.uint8),
            state_sizes=np.zeros(capacity, dtype=np.int64),
            event_statuses=np.zeros(capacity, dtype=np.int64),
            late=np.zeros(capacity, dtype=np.int64),
            signals=np.zeros(capacity, dtype=SIGNALS),
            features=np.zeros((capacity, n_features), dtype=np.float64),
            x32=np.zeros((capacity, n_features), dtype=np.float32),
            depths=np.zeros(capacity, dtype=np.float64),
            model=self._model,
            scores=np.zeros((capacity, 2), dtype=np.float64),
            champion_inputs=np.zeros((capacity, champion_width(self._features)), dtype=np.float64),
            **_tree_sections(self._trees),
            **self._champion,
            waiting=np.zeros(waiting_capacity, dtype=OUTCOME_INPUT),
            waiting_bounds=np.zeros((capacity, 2), dtype=np.int64),
        )
        self._views = views
        packed = ("events", "states_in", "ids_in", "ids")
        self._events_bytes, self._states_in_bytes, self._ids_in_bytes, self._ids_bytes = (
            views[name].reshape(-1).view(np.uint8).data for name in packed
        )
        self._states_out = views["states_out"]
        self._capacity, self._waiting_capacity, self._ids_capacity = capacity, waiting_capacity, ids_capacity
        self._run = _entry(self._work, self._features, "customer")

    def batch(
        self,
        states: Sequence[bytes | None],
        ids: Sequence[bytes],
        customer_of: Sequence[int],
        events: Sequence[Event],
        waiting: Sequence[bytes] = (),
    ) -> CustomerBatch:
        """A batch's customer steps, each customer's events in order.

        Args:
            states: Each customer's packed state (``None`` for a new one).
            ids: Each customer's remembered transaction ids.
            customer_of: Each event's customer, as an index in ``states``.
            events: The events.
            waiting: Each customer's outcomes not folded yet (:func:`waiting_outcomes`; none: no
                outcome): before each of its events, those known before it are folded
                (``core.state.fold_known_customer_outcomes``); the rest wait in ``CustomerBatch.waiting``.

        Raises:
            StateError: a state, or its ids, cannot be read.

        """
        n_events, n_customers = len(events), len(states)
        cut_states = [b"" if state is None else state[:_STATE_SLOT_BYTES] for state in states]
        packed_states = b"".join(cut_states)
        packed_ids = b"".join(ids)
        waiting_sizes = _waiting_sizes(waiting, n_customers)
        n_waiting = sum(waiting_sizes)
        if (
            max(n_events, n_customers) > self._capacity
            or n_waiting > self._waiting_capacity
            or len(packed_ids) > self._ids_capacity
        ):
            self._allocate(
                max(self._capacity, _power_of_two(max(n_events, n_customers))),
                max(self._waiting_capacity, _power_of_two(n_waiting)),
                max(self._ids_capacity, _power_of_two(len(packed_ids))),
            )
        views = self._views
        views["batch"]["n_events"], views["batch"]["n_customers"] = n_events, n_customers
        rules = self._rules
        self._events_bytes[: n_events * _EVENT_BYTES] = b"".join(
            [_EVENT.pack(*event_input_of(event, rules)) for event in events]
        )
        views["transaction_hashes"][:n_events] = [id_hash(event.transaction_id) for event in events]
        views["customer_of"][:n_events] = customer_of
        self._states_in_bytes[: len(packed_states)] = packed_states
        views["state_ends"][:n_customers] = list(itertools.accumulate(map(len, cut_states)))
        self._ids_in_bytes[: len(packed_ids)] = packed_ids
        views["ids_ends"][:n_customers] = list(itertools.accumulate(map(len, ids)))
        _put_waiting(views, waiting, waiting_sizes)
        self._run()
        for status in views["statuses"][:n_customers].tolist():
            if status == STATUS_BAD_IDS:
                raise StateInvalidError("the customer's remembered ids are not a whole number of (hash, time) pairs")
            if status != STATE_READ:
                raise state_error(status)
        return self._results(n_events, n_customers, n_waiting)

    def _results(self, n_events: int, n_customers: int, n_waiting: int) -> CustomerBatch:
        """What the compiled call wrote for the batch, as Python values."""
        views = self._views
        if self._hands_on:
            vectors = _rows(views["features"], n_events)
        else:
            make = self._features.vector._make
            vectors = [make(vector) for vector in views["features"][:n_events].tolist()]
        states_out, ids_out = self._states_out, self._ids_bytes
        state_sizes = views["state_sizes"][:n_customers].tolist()
        starts, sizes = views["ids_starts"][:n_customers].tolist(), views["ids_sizes"][:n_customers].tolist()
        scores = views["scores"][:n_events]
        self.outcomes_read_too_late = int(views["batch"][0]["outcomes_too_late"])
        return CustomerBatch(
            [status == STATUS_SCORED for status in views["event_statuses"][:n_events].tolist()],
            [late != 0 for late in views["late"][:n_events].tolist()],
            _rows(views["signals"], n_events),
            vectors,
            _rows(views["events"], n_events),
            [states_out[index, :size].tobytes() for index, size in enumerate(state_sizes)],
            [bytes(ids_out[start : start + size]) for start, size in zip(starts, sizes, strict=True)],
            _left_waiting(views, n_customers) if n_waiting else None,
            views["depths"][:n_events].tolist() if self._has_model else None,
            scores[:, 0].tolist() if self._has_model else None,
            scores[:, 1].tolist() if self._has_champion else None,
            _rows(views["champion_inputs"], n_events) if self._has_champion else None,
            self.outcomes_read_too_late,
        )

    def __call__(self, state: bytes | None, ids: bytes, event: Event, waiting: bytes = b"") -> StepResult | None:
        """One event's step (a batch of one); ``None`` when the customer's ids already hold its transaction id.

        ``waiting``: the customer's outcomes not folded yet (``waiting_outcomes``): those known
        before the event are folded first (``core.state.fold_known_customer_outcomes``); the rest
        are the result's ``waiting``.

        Raises:
            StateError: ``state`` is not a readable customer state.

        """
        batch = self.batch([state], [ids], [0], [event], [waiting] if waiting else [])
        if not batch.stepped[0]:
            return None
        still_waiting = batch.waiting[0] if batch.waiting is not None else b""
        return step_result(batch, 0)._replace(state=batch.states[0], ids=batch.ids[0], waiting=still_waiting)

    def hand_on(self, state: bytes | None, ids: bytes, event: Event, waiting: bytes = b"") -> HandedOn | None:
        """One event's step before a merchant stage: the customer's new state and what :class:`MerchantStep` reads.

        The same call as :meth:`__call__`; the verdicts and the model's vector are left to the
        merchant stage, which makes them. ``None`` for a repeated transaction id.

        Raises:
            StateError: ``state`` is not a readable customer state.

        """
        batch = self.batch([state], [ids], [0], [event], [waiting] if waiting else [])
        if not batch.stepped[0]:
            return None
        return HandedOn(
            batch.late[0],
            batch.signals[0],
            batch.states[0],
            batch.ids[0],
            batch.waiting[0] if batch.waiting is not None else b"",
            batch.event_inputs[0],
            batch.features[0],
        )


def _power_of_two(size: int) -> int:
    """The smallest power of two at least ``size`` (1 for nothing)."""
    return 1 << max(size - 1, 0).bit_length()


def _waiting_sizes(waiting: Sequence[bytes], n_entities: int) -> list[int]:
    """How many outcomes wait for each entity (all none without ``waiting``)."""
    return [len(outcomes) // _OUTCOME_BYTES for outcomes in waiting] or [0] * n_entities


def _put_waiting(views: dict[str, NDArray[Any]], waiting: Sequence[bytes], sizes: list[int]) -> None:
    """The entities' waiting outcomes into the workspace, one after the other, and where each one's start and end."""
    ends = np.cumsum(sizes, dtype=np.int64)
    if sizes and ends[-1]:
        views["waiting"][: ends[-1]] = np.frombuffer(b"".join(waiting), dtype=OUTCOME_INPUT)
    views["waiting_bounds"][: len(sizes), 0] = ends - sizes
    views["waiting_bounds"][: len(sizes), 1] = ends


def _left_waiting(views: dict[str, NDArray[Any]], n_entities: int) -> list[bytes]:
    """Each entity's outcomes still waiting after the batch (``OUTCOME_INPUT`` records)."""
    outcomes = views["waiting"]
    return [outcomes[first:end].tobytes() for first, end in views["waiting_bounds"][:n_entities].tolist()]


def _rows(array: NDArray[Any], n_rows: int) -> list[bytes]:
    """The first ``n_rows`` rows (records) of ``array``, each as bytes."""
    packed = array[:n_rows].tobytes()
    row = array.itemsize * (array.size // array.shape[0])
    return [packed[index * row : (index + 1) * row] for index in range(n_rows)]


class MerchantBatch(NamedTuple):
    """A batch's merchant steps: per event the model's feature vector, walk and lateness; per merchant its new state."""

    vectors: list[Any]  # per event, the FeatureSet's vector
    depths: list[float] | None  # per event (None: rules only)
    read_too_late: list[bool]  # per event: a scored event had already read its tile (core.merchant.read_too_late)
    states: list[bytes]  # per merchant, in the order given
    ml_scores: list[float] | None = None  # per event (None: rules only)
    champion_scores: list[float] | None = None  # per event (None: no champion)
    champion_inputs: list[bytes] | None = None  # per event, the champion's inputs (float64; None: no champion)
    waiting: list[bytes] | None = None  # per merchant, its outcomes not known at its events yet (OUTCOME_INPUT)
    outcomes_read_too_late: int = 0  # outcomes folded after a scored event had read their tile


def waiting_outcomes(waiting: bytes, arrived: Sequence[tuple[int, bool]]) -> bytes:
    """A merchant's waiting ``OUTCOME_INPUT`` records with the ``(labelled_at_ms, is_fraud)`` arrived, by time."""
    if not arrived:
        return waiting  # already in time order
    records = np.concatenate([np.frombuffer(waiting, dtype=OUTCOME_INPUT), np.array(arrived, dtype=OUTCOME_INPUT)])
    return records[np.argsort(records["labelled_at_ms"], kind="stable")].tobytes()


class MerchantStep:
    """The merchant stage's call, one a batch: the core's ``merchant_step`` on packed merchant states, vectors, walks.

    Each merchant's state is decoded once a batch and encoded once, after its last event.

    Args:
        bundle: The model whose trees give the depth (``None``: rules only).
        features: The model's features, some of them the merchant's.
        merchant_lag_ms: ``features.merchant_lag_minutes`` in milliseconds.

    """

    def __init__(self, bundle: ModelBundle | None, features: FeatureSet, *, merchant_lag_ms: int) -> None:
        if bundle is not None:
            bundle.check_features(features.names)
        self._features = features
        self._has_model = bundle is not None
        self._has_champion = bundle is not None and bundle.manifest.champion is not None
        self._trees: tuple[NDArray[Any], ...] = bundle.walk_arrays() if bundle is not None else _NO_TREES
        self._model = model_params(bundle)
        self._champion = _champion_sections(bundle)
        self._params = merchant_params(merchant_lag_ms, features.windows)
        self._capacity = self._waiting_capacity = 0
        self._allocate(BATCH_CAPACITY, BATCH_CAPACITY)

    def _allocate(self, capacity: int, waiting_capacity: int) -> None:
        """A workspace for batches of up to ``capacity`` events and merchants, and ``waiting_capacity`` outcomes."""
        features = self._features
        n_customer, n_features = len(features.customer_names), len(features.names)
        by_source = (*features.customer_names, *features.merchant_names)  # where each input sits in the vector
        batch = np.array([capacity, 0, 0, waiting_capacity], dtype=np.int64)
        self._work, views = _workspace(
            _MERCHANT_SECTIONS,
            batch=batch,
            params=self._params,
            events=np.zeros(capacity, dtype=EVENT_INPUT),
            customer_features=np.zeros((capacity, n_customer), dtype=np.float64),
            merchant_of=np.zeros(capacity, dtype=np.int64),
            states_in=np.zeros((capacity, MAX_MERCHANT_STATE_BYTES), dtype=np.uint8),
            state_sizes=np.zeros(capacity, dtype=np.int64),
            records=np.zeros(capacity, dtype=MERCHANT_STATE),
            statuses=np.zeros(capacity, dtype=np.int64),
            signals=np.zeros(1, dtype=SIGNALS),  # merchant features read no signals, as in the batch replay
            merchant_features=np.zeros(len(features.merchant_names), dtype=np.float64),
            positions=np.array([features.names.index(name) for name in by_source], dtype=np.int64),
            features=np.zeros((capacity, n_features), dtype=np.float64),
            x32=np.zeros((capacity, n_features), dtype=np.float32),
            depths=np.zeros(capacity, dtype=np.float64),
            too_late=np.zeros(capacity, dtype=np.int64),
            states_out=np.zeros((capacity, MAX_MERCHANT_STATE_BYTES), dtype=np.uint8),
            model=self._model,
            event_signals=np.zeros(capacity, dtype=SIGNALS),
            scores=np.zeros((capacity, 2), dtype=np.float64),
            champion_inputs=np.zeros((capacity, champion_width(features)), dtype=np.float64),
            **_tree_sections(self._trees),
            **self._champion,
            waiting=np.zeros(waiting_capacity, dtype=OUTCOME_INPUT),
            waiting_bounds=np.zeros((capacity, 2), dtype=np.int64),
            outcomes_too_late=np.zeros(1, dtype=np.int64),
        )
        self._views = views
        packed = ("events", "customer_features", "states_in", "states_out", "event_signals")
        self._events_bytes, self._customer_bytes, self._states_in_bytes, self._states_out_bytes, self._signals_bytes = (
            views[name].reshape(-1).view(np.uint8).data for name in packed
        )
        self._capacity, self._waiting_capacity = capacity, waiting_capacity
        self._run = _entry(self._work, features, "merchant")

    def __call__(
        self,
        states: Sequence[bytes | None],
        merchant_of: Sequence[int],
        event_inputs: Sequence[bytes],
        customer_features: Sequence[bytes],
        signals: Sequence[bytes] = (),
        waiting: Sequence[bytes] = (),
    ) -> MerchantBatch:
        """A batch's merchant steps, in order, from what :meth:`StreamStep.hand_on` packed for each event.

        Args:
            states: Each merchant's packed state (``None`` for a new one).
            merchant_of: Each event's merchant, as an index in ``states``.
            event_inputs: Each event's packed ``EVENT_INPUT`` record.
            customer_features: Each event's packed customer features.
            signals: Each event's ``SIGNALS`` record: the champion reads its verdicts and rules score (a
                bundle without a champion needs none).
            waiting: Each merchant's outcomes not folded yet (:func:`waiting_outcomes`; none: no outcome):
                before each of its events, those known before it are folded
                (``core.merchant.fold_known_outcomes``); the rest wait in ``MerchantBatch.waiting``.

        Raises:
            StateError: a state is not a readable merchant state.

        """
        n_events, n_merchants = len(merchant_of), len(states)
        waiting_sizes = _waiting_sizes(waiting, n_merchants)
        n_waiting = sum(waiting_sizes)
        if max(n_events, n_merchants) > self._capacity or n_waiting > self._waiting_capacity:
            self._allocate(
                max(self._capacity, _power_of_two(max(n_events, n_merchants))),
                max(self._waiting_capacity, _power_of_two(n_waiting)),
            )
        views = self._views
        views["batch"][1:3] = n_events, n_merchants
        _put_waiting(views, waiting, waiting_sizes)
        self._events_bytes[: n_events * _EVENT_BYTES] = b"".join(event_inputs)
        packed_features = b"".join(customer_features)
        self._customer_bytes[: len(packed_features)] = packed_features
        if self._has_champion:
            if len(signals) != n_events:
                raise ValueError("the champion reads each event's SIGNALS record: give one per event")
            self._signals_bytes[: n_events * _SIGNALS_BYTES] = b"".join(signals)
        views["merchant_of"][:n_events] = merchant_of
        sizes = [0 if state is None else len(state) for state in states]
        states_in, width = self._states_in_bytes, MAX_MERCHANT_STATE_BYTES
        for index, state in enumerate(states):
            if state:
                states_in[index * width : index * width + len(state)] = state
        views["state_sizes"][:n_merchants] = sizes
        self._run()
        for status in views["statuses"][:n_merchants].tolist():
            if status != STATE_READ:
                raise merchant_state_error(status)
        states_out, sizes = self._states_out_bytes, views["state_sizes"][:n_merchants].tolist()
        make = self._features.vector._make
        scores = views["scores"][:n_events]
        return MerchantBatch(
            [make(vector) for vector in views["features"][:n_events].tolist()],
            views["depths"][:n_events].tolist() if self._has_model else None,
            [too_late != 0 for too_late in views["too_late"][:n_events].tolist()],
            [bytes(states_out[index * width : index * width + size]) for index, size in enumerate(sizes)],
            scores[:, 0].tolist() if self._has_model else None,
            scores[:, 1].tolist() if self._has_champion else None,
            _rows(views["champion_inputs"], n_events) if self._has_champion else None,
            _left_waiting(views, n_merchants) if n_waiting else None,
            int(views["outcomes_too_late"][0]),
        )


_TREE_SECTIONS = ("offsets", "nodes", "leaf_value")  # ModelBundle.walk_arrays
_CHAMPION_SECTIONS = ("champion_offsets", "champion_nodes", "champion_leaf_value")  # ModelBundle.champion_walk
_SECTIONS = (
    "batch",
    "params",
    "events",
    "transaction_hashes",
    "customer_of",
    "states_in",
    "state_ends",
    "ids_in",
    "ids_ends",
    "ids",
    "ids_starts",
    "ids_sizes",
    "ids_scratch",
    "records",
    "statuses",
    "states_out",
    "state_sizes",
    "event_statuses",
    "late",
    "signals",
    "features",
    "x32",
    "depths",
    "model",
    "scores",
    "champion_inputs",
    *_TREE_SECTIONS,
    *_CHAMPION_SECTIONS,
    "waiting",
    "waiting_bounds",
)
_CUSTOMER_WAITING = _SECTIONS.index("waiting")
_CUSTOMER_TREES, _CUSTOMER_CHAMPION = _SECTIONS.index("offsets"), _SECTIONS.index(_CHAMPION_SECTIONS[0])
_MERCHANT_SECTIONS = (
    "batch",
    "params",
    "events",
    "customer_features",
    "merchant_of",
    "states_in",
    "state_sizes",
    "records",
    "statuses",
    "signals",
    "merchant_features",
    "positions",
    "features",
    "x32",
    "depths",
    "too_late",
    "states_out",
    "model",
    "event_signals",
    "scores",
    "champion_inputs",
    *_TREE_SECTIONS,
    *_CHAMPION_SECTIONS,
    "waiting",
    "waiting_bounds",
    "outcomes_too_late",
)
_WAITING = _MERCHANT_SECTIONS.index("waiting")
_MERCHANT_TREES, _MERCHANT_CHAMPION = (
    _MERCHANT_SECTIONS.index("offsets"),
    _MERCHANT_SECTIONS.index(_CHAMPION_SECTIONS[0]),
)


def _tree_sections(trees: tuple[NDArray[Any], ...]) -> dict[str, NDArray[Any]]:
    """The bundle's walk arrays by section name."""
    return dict(zip(_TREE_SECTIONS, trees, strict=True))


def _workspace(sections: tuple[str, ...], **arrays: NDArray[Any]) -> tuple[NDArray[np.uint8], dict[str, NDArray[Any]]]:
    """One buffer holding every array the call reads or writes, 8-byte aligned, after a header.

    The header: the number of trees, the number of nodes, where each section starts, the end.
    """
    header_slots = 2 + len(sections) + 1
    sizes = [-(-arrays[name].nbytes // 8) * 8 for name in sections]
    starts = np.cumsum([8 * header_slots, *sizes])
    work = np.zeros(int(starts[-1]), dtype=np.uint8)
    header = work[: 8 * header_slots].view(np.int64)
    header[0] = arrays["offsets"].shape[0] - 1
    header[1] = arrays["nodes"].shape[0]
    header[2:] = starts
    views = {}
    for name, start in zip(sections, starts[:-1], strict=True):
        array = arrays[name]
        view = work[start : start + array.nbytes].view(array.dtype).reshape(array.shape)
        view[...] = array
        views[name] = view
    return work, views


@compiled
def _section(work: Any, index: int, size: int) -> Any:
    start = work[8 * (2 + index) : 8 * (3 + index)].view(np.int64)[0]
    return work[start : start + size]


@compiled
def _walk(work: Any, first: int, x32: Any, depths: Any) -> None:
    """Each row's summed path length over the bundle's trees (in the three sections from ``first``) into ``depths``."""
    n_trees = work[:8].view(np.int64)[0]
    n_nodes = work[8:16].view(np.int64)[0]
    depths[:] = 0.0
    serial_depths(
        x32,
        _section(work, first, 8 * (n_trees + 1)).view(np.int64),
        _section(work, first + 1, _WALK_NODE_BYTES * n_nodes).view(WALK_NODE),
        _section(work, first + 2, 8 * n_nodes).view(np.float64),
        depths,
    )


@compiled
def _champion_inputs(model: Any, depth: float, vector: Any, signal_bytes: Any, inputs: Any) -> float:
    """The forest's normalised score of a walk's ``depth``; with a champion, its inputs into ``inputs`` (one row).

    The champion's inputs: the features, each rule's verdict, the rules score (from the
    ``SIGNALS`` record's bytes), the forest's score.
    """
    ml_score: float = normalised_anomaly(depth, model["denominator"], model["norm_low"], model["norm_span"])
    if model["has_champion"] == 0:
        return ml_score
    n_features = vector.shape[0]
    inputs[:n_features] = vector
    for rule in range(N_RULES):
        inputs[n_features + rule] = 1.0 if signal_bytes[_VERDICTS_AT + rule] != 0 else 0.0
    inputs[n_features + N_RULES] = signal_bytes.view(SIGNALS)[0]["rules_score"]
    inputs[n_features + N_RULES + 1] = ml_score
    return ml_score


@compiled
def _champion_walk(work: Any, first: int, model: Any, inputs: Any, scores: Any) -> None:
    """The champion's score of each row of ``inputs`` into ``scores`` (its walk: the three sections from ``first``)."""
    n_trees, n_nodes = model["champion_trees"], model["champion_nodes"]
    champion_scores(
        inputs,
        _section(work, first, 8 * (n_trees + 1)).view(np.int64),
        _section(work, first + 1, _BOOSTED_NODE_BYTES * n_nodes).view(BOOSTED_NODE),
        _section(work, first + 2, 8 * n_nodes).view(np.float64),
        model["sigmoid"],
        model["override_input"],
        scores,
    )


@compiled
def _scored_rows(work: Any, trees: int, champion_trees: int, model: Any, rows: Any, n_rows: int) -> None:
    """The first ``n_rows`` rows' walks and scores: the forest's depth and score, the champion's inputs and score.

    ``rows``: the float32 features, the features, the ``SIGNALS`` records' bytes (in), the depths,
    the champion's inputs and the (forest, champion) scores (out). Each tree goes over all the rows,
    so its nodes stay in cache.
    """
    x32, feature_values, signal_bytes, depths, champion_inputs, scores = rows
    _walk(work, trees, x32[:n_rows], depths[:n_rows])
    if model["has_forest"] == 0:
        return
    for index in range(n_rows):
        vector, signals = feature_values[index], signal_bytes[index]
        scores[index, 0] = _champion_inputs(model, depths[index], vector, signals, champion_inputs[index])
    if model["has_champion"] != 0:
        champion = np.zeros(n_rows, dtype=np.float64)
        _champion_walk(work, champion_trees, model, champion_inputs[:n_rows], champion)
        scores[:n_rows, 1] = champion


@compiled
def _customer_batch(work: Any, n_features: int, key: str) -> None:
    """Read each customer's ids and state; each event in order: dedup, outcomes, the core's step; walks; encode."""
    batch = _section(work, 0, _CUSTOMER_BATCH_BYTES).view(CUSTOMER_BATCH)[0]
    capacity, n_events, n_customers = batch["capacity"], batch["n_events"], batch["n_customers"]
    ids_capacity = batch["ids_capacity"]
    params = _section(work, 1, _PARAMS_BYTES).view(RULE_PARAMS)[0]
    events = _section(work, 2, capacity * _EVENT_BYTES).view(EVENT_INPUT)
    transaction_hashes = _section(work, 3, 8 * capacity).view(np.int64)
    customer_of = _section(work, 4, 8 * capacity).view(np.int64)
    states_in = _section(work, 5, capacity * _STATE_SLOT_BYTES)
    state_ends = _section(work, 6, 8 * capacity).view(np.int64)
    ids_in = _section(work, 7, ids_capacity)
    ids_ends = _section(work, 8, 8 * capacity).view(np.int64)
    ids = _section(work, 9, ids_capacity + 16 * capacity)
    ids_starts = _section(work, 10, 8 * capacity).view(np.int64)
    ids_sizes = _section(work, 11, 8 * capacity).view(np.int64)
    ids_scratch = _section(work, 12, MAX_IDS_BYTES)
    records = _section(work, 13, capacity * _STATE_RECORD_BYTES).view(CUSTOMER_STATE)
    statuses = _section(work, 14, 8 * capacity).view(np.int64)
    states_out = _section(work, 15, capacity * MAX_STATE_BYTES).reshape((capacity, MAX_STATE_BYTES))
    state_sizes = _section(work, 16, 8 * capacity).view(np.int64)
    event_statuses = _section(work, 17, 8 * capacity).view(np.int64)
    late = _section(work, 18, 8 * capacity).view(np.int64)
    signal_bytes = _section(work, 19, capacity * _SIGNALS_BYTES).reshape((capacity, _SIGNALS_BYTES))
    feature_values = _section(work, 20, 8 * capacity * n_features).view(np.float64).reshape((capacity, n_features))
    x32 = _section(work, 21, 4 * capacity * n_features).view(np.float32).reshape((capacity, n_features))
    depths = _section(work, 22, 8 * capacity).view(np.float64)
    model = _section(work, 23, _MODEL_PARAMS_BYTES).view(MODEL_PARAMS)[0]
    scores = _section(work, 24, 16 * capacity).view(np.float64).reshape((capacity, 2))
    n_inputs = n_features + CHAMPION_EXTRA_INPUTS
    champion_inputs = _section(work, 25, 8 * capacity * n_inputs).view(np.float64).reshape((capacity, n_inputs))
    waiting = _section(work, _CUSTOMER_WAITING, batch["waiting_capacity"] * _OUTCOME_BYTES).view(OUTCOME_INPUT)
    waiting_bounds = _section(work, _CUSTOMER_WAITING + 1, 16 * capacity).view(np.int64).reshape((capacity, 2))
    batch["outcomes_too_late"] = 0
    # Each customer's ids go in its own span of ``ids``, with room for one more id per event of it.
    ids_starts[:n_customers] = 0
    for index in range(n_events):
        ids_starts[customer_of[index]] += 16
    ids_at = ids_in_at = state_at = 0
    for customer in range(n_customers):
        ids_end, state_end = ids_ends[customer], state_ends[customer]
        size, room = ids_end - ids_in_at, ids_starts[customer]
        ids[ids_at : ids_at + size] = ids_in[ids_in_at:ids_end]
        ids_starts[customer], ids_sizes[customer] = ids_at, size
        ids_at, ids_in_at = ids_at + size + room, ids_end
        record_bytes = records[customer : customer + 1].view(np.uint8)
        if ids_sizes[customer] % 16 != 0:
            statuses[customer] = STATUS_BAD_IDS
        else:
            statuses[customer] = decode_state(states_in[state_at:state_end], record_bytes)
        state_at = state_end
    for index in range(n_events):
        customer = customer_of[index]
        if statuses[customer] != STATE_READ:
            continue
        start = ids_starts[customer]
        hashes, times = unpacked_ids(ids[start : start + ids_sizes[customer]])
        transaction_hash = transaction_hashes[index]
        if is_remembered(hashes, transaction_hash):
            event_statuses[index] = STATUS_DUPLICATE
            continue
        state, event = records[customer], events[index]
        time_ms = event["event_time_ms"]
        first, end = waiting_bounds[customer, 0], waiting_bounds[customer, 1]
        first, too_late = fold_known_customer_outcomes(state, waiting, first, end, time_ms)
        waiting_bounds[customer, 0] = first
        batch["outcomes_too_late"] += too_late
        event_statuses[index] = STATUS_SCORED
        late[index] = is_late(times, time_ms, batch["max_out_of_orderness_ms"])
        step(state, event, params, signal_bytes[index].view(SIGNALS)[0], feature_values[index], key)
        x32[index, :] = feature_values[index]  # the model reads float32 features, as the batch walk does
        size = remember_id(hashes, times, transaction_hash, time_ms, batch["dedup_window_ms"], ids_scratch)
        ids[start : start + size] = ids_scratch[:size]
        ids_sizes[customer] = size
    # The batch's walks (a repeated event's row walks stale values, never read)
    rows = (x32, feature_values, signal_bytes, depths, champion_inputs, scores)
    _scored_rows(work, _CUSTOMER_TREES, _CUSTOMER_CHAMPION, model, rows, n_events)
    for customer in range(n_customers):
        if statuses[customer] == STATE_READ:
            record_bytes = records[customer : customer + 1].view(np.uint8)
            state_sizes[customer] = encode_state(record_bytes, states_out[customer])


@compiled
def _merchant_batch(work: Any, n_customer: int, n_merchant: int, key: str) -> None:
    """Decode each merchant's state, the core's merchant step for each event in order, its vector and walk, encode."""
    batch = _section(work, 0, 32).view(np.int64)
    capacity, n_events, n_merchants, waiting_capacity = batch[0], batch[1], batch[2], batch[3]
    n_features = n_customer + n_merchant
    params = _section(work, 1, _MERCHANT_PARAMS_BYTES).view(MERCHANT_PARAMS)[0]
    events = _section(work, 2, capacity * _EVENT_BYTES).view(EVENT_INPUT)
    customer_values = _section(work, 3, 8 * capacity * n_customer).view(np.float64).reshape((capacity, n_customer))
    merchant_of = _section(work, 4, 8 * capacity).view(np.int64)
    states_in = _section(work, 5, capacity * MAX_MERCHANT_STATE_BYTES).reshape((capacity, MAX_MERCHANT_STATE_BYTES))
    state_sizes = _section(work, 6, 8 * capacity).view(np.int64)  # in: the packed sizes; out: the new ones
    records = _section(work, 7, capacity * _MERCHANT_RECORD_BYTES).view(MERCHANT_STATE)
    statuses = _section(work, 8, 8 * capacity).view(np.int64)
    signals = _section(work, 9, _SIGNALS_BYTES).view(SIGNALS)[0]
    merchant_values = _section(work, 10, 8 * n_merchant).view(np.float64)
    positions = _section(work, 11, 8 * n_features).view(np.int64)
    feature_values = _section(work, 12, 8 * capacity * n_features).view(np.float64).reshape((capacity, n_features))
    x32 = _section(work, 13, 4 * capacity * n_features).view(np.float32).reshape((capacity, n_features))
    depths = _section(work, 14, 8 * capacity).view(np.float64)
    too_late = _section(work, 15, 8 * capacity).view(np.int64)
    states_out = _section(work, 16, capacity * MAX_MERCHANT_STATE_BYTES).reshape((capacity, MAX_MERCHANT_STATE_BYTES))
    model = _section(work, 17, _MODEL_PARAMS_BYTES).view(MODEL_PARAMS)[0]
    event_signals = _section(work, 18, capacity * _SIGNALS_BYTES).reshape((capacity, _SIGNALS_BYTES))
    scores = _section(work, 19, 16 * capacity).view(np.float64).reshape((capacity, 2))
    n_inputs = n_features + CHAMPION_EXTRA_INPUTS
    champion_inputs = _section(work, 20, 8 * capacity * n_inputs).view(np.float64).reshape((capacity, n_inputs))
    waiting = _section(work, _WAITING, waiting_capacity * _OUTCOME_BYTES).view(OUTCOME_INPUT)
    waiting_bounds = _section(work, _WAITING + 1, 16 * capacity).view(np.int64).reshape((capacity, 2))
    outcomes_too_late = _section(work, _WAITING + 2, 8).view(np.int64)
    outcomes_too_late[0] = 0
    for merchant in range(n_merchants):
        record_bytes = records[merchant : merchant + 1].view(np.uint8)
        statuses[merchant] = decode_merchant_state(states_in[merchant, : state_sizes[merchant]], record_bytes)
    for index in range(n_events):
        merchant = merchant_of[index]
        if statuses[merchant] != STATE_READ:
            continue
        state, event, vector = records[merchant], events[index], feature_values[index]
        first, end = waiting_bounds[merchant, 0], waiting_bounds[merchant, 1]
        first, late_outcomes = fold_known_outcomes(state, waiting, first, end, event["event_time_ms"], params)
        waiting_bounds[merchant, 0] = first
        outcomes_too_late[0] += late_outcomes
        too_late[index] = read_too_late(state, event["event_time_ms"], params)
        merchant_step(state, event, params, signals, merchant_values, key)
        for column in range(n_customer):
            vector[positions[column]] = customer_values[index, column]
        for column in range(n_merchant):
            vector[positions[n_customer + column]] = merchant_values[column]
        x32[index, :] = vector  # the model reads float32 features, as the batch walk does
    # The batch's walks (an event of an unreadable merchant walks stale values; the batch fails on its status)
    rows = (x32, feature_values, event_signals, depths, champion_inputs, scores)
    _scored_rows(work, _MERCHANT_TREES, _MERCHANT_CHAMPION, model, rows, n_events)
    for merchant in range(n_merchants):
        if statuses[merchant] == STATE_READ:
            record_bytes = records[merchant : merchant + 1].view(np.uint8)
            state_sizes[merchant] = encode_merchant_state(record_bytes, states_out[merchant])


def _entry(work: NDArray[np.uint8], features: FeatureSet, stage: str) -> Any:
    """The ``stage``'s compiled call with the workspace bound: it takes no argument."""
    compiled_call = _c_call(features, stage)
    if compiled_call is not None:
        return functools.partial(compiled_call, int(work.ctypes.data), work.shape[0])

    def run() -> None:  # pragma: no cover - no numba
        n_customer, n_merchant = len(features.customer_names), len(features.merchant_names)
        if stage == "customer":
            _customer_batch(work, n_customer, features.key)
        else:
            _merchant_batch(work, n_customer, n_merchant, features.merchant_key)

    return run


@functools.cache
def _c_call(features: FeatureSet, stage: str) -> Any:
    """A ctypes callable of the ``stage``'s call for ``features``, compiled as a C function; ``None`` without numba."""
    try:
        from numba import carray, cfunc, types
    except ImportError:  # pragma: no cover - numba ships with shap in this environment
        return None
    signature = types.void(types.CPointer(types.uint8), types.int64)

    # constants of the compiled entry
    n_customer, n_merchant = len(features.customer_names), len(features.merchant_names)
    key, merchant_key = features.key, features.merchant_key

    def customer_entry(work_p, n_work):  # type: ignore[no-untyped-def]
        _customer_batch(carray(work_p, (n_work,)), n_customer, key)

    def merchant_entry(work_p, n_work):  # type: ignore[no-untyped-def]
        _merchant_batch(carray(work_p, (n_work,)), n_customer, n_merchant, merchant_key)

    chosen = customer_entry if stage == "customer" else merchant_entry
    compiled_entry = cfunc(signature, cache=True, nopython=True)(chosen)  # one cache entry per feature set
    # the workspace's address as a plain int; PYFUNCTYPE keeps the GIL (releasing and taking it
    # back costs more than a batch's step)
    return ctypes.PYFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(compiled_entry.address)
