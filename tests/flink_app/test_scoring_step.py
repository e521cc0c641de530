"""The stream's compiled call: the core's step on packed state, with dedup, lateness and the walk, one batch a call.

There is one definition of the step (``streamflow.core.features.step``); these tests check the
stream's plumbing around it (decode, encode, the workspace, dedup, the walk) against the batch
replay and plain references: a set of seen ids, the newest time, ``ModelBundle.path_lengths``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from datetime import timedelta, timezone

import numpy as np
import pytest
from flink_app.scoring_step import StepResult, StreamStep, step_result
from hypothesis import given, settings
from hypothesis import strategies as st

from streamflow.core import (
    FEATURE_NAMES,
    CustomerState,
    Event,
    EventError,
    FeatureSet,
    RulesConfig,
    StateError,
    feature_set,
    parse_event,
    replay_events,
)
from streamflow.core.contract import ContractConfig
from streamflow.core.dedup import MAX_REMEMBERED_IDS
from streamflow.core.forest import ModelBundle
from streamflow.core.state import OUTCOME_INPUT
from streamflow.generator import GeneratorConfig, generate_stream
from tests.factories import BASE_TIME, CUSTOMER_WINDOWED, OTHER_WINDOWS, make_bundle, make_event

BOUND_MS = 60_000
WINDOW_MS = 2160 * 3_600_000
RULES = RulesConfig.from_dict({"blacklist": {"store_ids": ["S00003"], "card_ids": ["K-bad"]}})


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return make_bundle(n_estimators=40, training_rows=2000, feature_scale=(2.0, 3.0, 4.0, 300.0, 0.3, 2.0))


def _stepped(step: StreamStep, events: list[Event], batch_size: int) -> Iterator[StepResult | None]:
    """Each event's step (``None`` for a repeat), in batches of ``batch_size`` as ``ScoreMiniBatches`` steps them."""
    slots: dict[str, tuple[bytes | None, bytes]] = {}
    for start in range(0, len(events), batch_size):
        chunk = events[start : start + batch_size]
        customers: dict[str, int] = {}
        customer_of = [customers.setdefault(event.customer_id, len(customers)) for event in chunk]
        stored = [slots.get(customer, (None, b"")) for customer in customers]
        batch = step.batch([slot[0] for slot in stored], [slot[1] for slot in stored], customer_of, chunk)
        slots.update(zip(customers, zip(batch.states, batch.ids, strict=True), strict=True))
        yield from (step_result(batch, index) if batch.stepped[index] else None for index in range(len(chunk)))


def _stream_against_batch(
    events: Iterable[Event],
    rules: RulesConfig,
    bundle: ModelBundle | None,
    features: FeatureSet | None = None,
    batch_size: int = 1,
) -> int:
    """Step every event as the job does and compare with the batch replay of the events it kept; the number kept."""
    step = StreamStep(rules, bundle, features, max_out_of_orderness_ms=BOUND_MS, dedup_window_ms=WINDOW_MS)
    seen: set[tuple[str, str]] = set()
    newest: dict[str, int] = {}
    kept, results = [], []
    ordered = list(events)
    for event, result in zip(ordered, _stepped(step, ordered, batch_size), strict=True):
        key = (event.customer_id, event.transaction_id)
        if key in seen:
            assert result is None
            continue
        assert result is not None
        seen.add(key)
        assert result.late == (event.event_time_ms < newest.get(event.customer_id, event.event_time_ms) - BOUND_MS)
        newest[event.customer_id] = max(newest.get(event.customer_id, event.event_time_ms), event.event_time_ms)
        kept.append(event)
        results.append(result)
    for result, (_, assessment) in zip(results, replay_events(kept, rules, features), strict=True):
        assert result.features == assessment.features
        assert result.fired_rules == tuple(rule.rule_id for rule in assessment.fired_rules)
        assert result.rules_score == assessment.rules_score
        expected_depth = bundle.path_lengths(np.array([assessment.features]))[0] if bundle is not None else None
        assert result.depth == expected_depth
    return len(kept)


def _generated_events() -> list[Event]:
    config = GeneratorConfig.from_dict({"n_events": 6000, "n_customers": 150, "days": 5}, ["S00003"])
    stream = generate_stream(config, ContractConfig())
    events = []
    for name in sorted(stream.partitions):
        for line in stream.partitions[name].splitlines():
            try:
                events.append(parse_event(line))
            except EventError:  # the generator's malformed lines
                continue
    return events


def test_a_generated_stream_steps_as_the_batch_replay_scores_it(bundle: ModelBundle) -> None:
    events = _generated_events()
    assert _stream_against_batch(events, RULES, bundle) > 5000
    assert _stream_against_batch(events, RULES, bundle, batch_size=64) > 5000  # a customer's events share batches
    assert _stream_against_batch(events, RULES, None) > 5000


def test_windowed_features_step_as_the_batch_replay_computes_them() -> None:
    windowed = feature_set((*FEATURE_NAMES, *CUSTOMER_WINDOWED), (), OTHER_WINDOWS)  # configured, not the default
    assert _stream_against_batch(_generated_events(), RULES, None, windowed) > 5000


@st.composite
def _customer_events(draw: st.DrawFn) -> list[Event]:
    """A few customers' events, out of order, repeated, far apart or at the same instant."""
    events = []
    for index in range(draw(st.integers(min_value=1, max_value=40))):
        minutes = round(draw(st.one_of(st.floats(min_value=-600, max_value=6000), st.sampled_from([0.0, 0.5]))), 3)
        zone = timezone(timedelta(minutes=draw(st.sampled_from([0, 330, -420]))))
        events.append(
            make_event(
                minutes=minutes,
                transaction_id=draw(st.sampled_from([f"T{index}", "T-repeat"])),
                customer_id=draw(st.sampled_from(["C1", "C2"])),
                card_id=draw(st.sampled_from(["K1", "K-bad"])),
                amount=draw(st.floats(min_value=0.01, max_value=50_000, allow_nan=False)),
                latitude=draw(st.floats(min_value=-90, max_value=90)),
                longitude=draw(st.floats(min_value=-180, max_value=180)),
                timestamp=(BASE_TIME + timedelta(minutes=minutes)).astimezone(zone).isoformat(),
            )
        )
    return events


@settings(max_examples=60, deadline=None)
@given(events=_customer_events())
def test_random_event_sequences_step_as_the_batch_replay_scores_them(events: list[Event]) -> None:
    rules = RulesConfig.from_dict(
        {"velocity": {"max_transactions": 2, "window_minutes": 30, "max_tracked_events": 4}, "min_history": 2}
    )
    _stream_against_batch(events, rules, None)
    _stream_against_batch(events, rules, None, batch_size=7)  # repeats and both customers within a batch


def test_ids_beyond_the_cap_are_forgotten_oldest_first() -> None:
    step = StreamStep(RULES, None, max_out_of_orderness_ms=BOUND_MS, dedup_window_ms=WINDOW_MS)
    state, ids = None, b""
    for index in range(MAX_REMEMBERED_IDS + 3):
        result = step(state, ids, make_event(minutes=index / 100, transaction_id=f"T{index}"))
        assert result is not None
        state, ids = result.state, result.ids
    assert len(ids) == 16 * MAX_REMEMBERED_IDS
    assert step(state, ids, make_event(minutes=99, transaction_id="T0")) is not None  # forgotten
    assert step(state, ids, make_event(minutes=99, transaction_id="T5")) is None  # still remembered


def test_a_repeated_transaction_id_is_reported_and_changes_nothing() -> None:
    step = StreamStep(RULES, None, max_out_of_orderness_ms=BOUND_MS, dedup_window_ms=WINDOW_MS)
    first = step(None, b"", make_event(transaction_id="T1"))
    assert first is not None
    assert step(first.state, first.ids, make_event(minutes=5, transaction_id="T1")) is None
    assert step.hand_on(first.state, first.ids, make_event(minutes=5, transaction_id="T1")) is None


def _recrc(raw: bytes) -> bytes:
    return raw[:-4] + struct.pack("<I", zlib.crc32(raw[:-4]))


@pytest.mark.parametrize(
    ("mangle", "code"),
    [
        (lambda raw: raw[:40], "state_truncated"),
        (lambda raw: b"XX" + raw[2:], "state_bad_magic"),
        (lambda raw: raw[:2] + b"\x01" + raw[3:], "state_unsupported_version"),
        (lambda raw: raw[:20] + bytes([raw[20] ^ 0xFF]) + raw[21:], "state_checksum_mismatch"),
        (lambda raw: _recrc(raw[:4] + struct.pack("<q", -1) + raw[12:]), "state_invalid"),
    ],
)
def test_an_unreadable_state_raises_the_cores_error(mangle: object, code: str) -> None:
    step = StreamStep(RULES, None, max_out_of_orderness_ms=BOUND_MS, dedup_window_ms=WINDOW_MS)
    first = step(None, b"", make_event(transaction_id="T1"))
    assert first is not None
    with pytest.raises(StateError) as caught:
        step(mangle(first.state), first.ids, make_event(minutes=5, transaction_id="T2"))  # type: ignore[operator]
    assert caught.value.code == code


@pytest.mark.parametrize(
    "previous",
    [
        b"SF\x01\x01" + bytes(150) + struct.pack("<I", 0),  # version 1: flags, then a hand-packed body
        b"SF\x02\x00" + bytes(160) + struct.pack("<I", 0),  # version 2: the record before the windows
    ],
    ids=["version-1", "version-2"],
)
def test_state_written_by_a_previous_version_is_refused_with_its_code(previous: bytes) -> None:
    step = StreamStep(RULES, None, max_out_of_orderness_ms=BOUND_MS, dedup_window_ms=WINDOW_MS)
    with pytest.raises(StateError) as caught:
        step(_recrc(previous), b"", make_event())
    assert caught.value.code == "state_unsupported_version"
    assert "docs/runbooks.md" in str(caught.value)


def test_remembered_ids_that_are_not_whole_pairs_are_rejected() -> None:
    step = StreamStep(RULES, None, max_out_of_orderness_ms=BOUND_MS, dedup_window_ms=WINDOW_MS)
    with pytest.raises(StateError):
        step(None, b"\x00" * 15, make_event())


def test_the_stream_state_reads_back_as_the_cores_customer_state() -> None:
    step = StreamStep(RULES, None, max_out_of_orderness_ms=BOUND_MS, dedup_window_ms=WINDOW_MS)
    result = step(None, b"", make_event(amount=42.0))
    assert result is not None
    state = CustomerState.from_bytes(result.state)
    assert (state.event_count, state.amount_mean) == (1, 42.0)


def test_a_fraud_outcome_folded_after_a_later_event_of_the_customer_is_counted_too_late() -> None:
    """A Kafka catch-up can bring an outcome after events that batch counted it for: the step says how many."""
    step = StreamStep(
        RULES,
        None,
        feature_set((*FEATURE_NAMES, "customer_fraud_known_30d")),
        max_out_of_orderness_ms=BOUND_MS,
        dedup_window_ms=WINDOW_MS,
    )
    start_ms = make_event(minutes=0).event_time_ms

    def known(minutes: float, is_fraud: bool = True) -> bytes:
        return np.array([(start_ms + round(minutes * 60_000), is_fraud)], dtype=OUTCOME_INPUT).tobytes()

    first = step(None, b"", make_event(minutes=10))
    assert first is not None
    # known at minute 5, folded only at minute 20: the event at minute 10 was scored without it
    second = step(first.state, first.ids, make_event(minutes=20), known(5) + known(6, is_fraud=False))
    assert second is not None
    assert second.features.customer_fraud_known_30d == 1.0
    assert step.outcomes_read_too_late == 1  # the fraud; the cleared outcome changes no feature
    third = step(second.state, second.ids, make_event(minutes=30), known(25))  # known after minute 20: in time
    assert third is not None
    assert step.outcomes_read_too_late == 0
