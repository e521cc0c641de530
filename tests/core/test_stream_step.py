"""The compiled stream step against the readable core it mirrors: the same numbers, bit for bit."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamflow.core import CustomerState, Event, EventError, RulesConfig, StateError, process_event
from streamflow.core.contract import ContractConfig
from streamflow.core.dedup import MAX_REMEMBERED_IDS, RecentTransactions
from streamflow.core.forest import ModelBundle
from streamflow.core.rules import evaluate_rules
from streamflow.core.stream_step import RULE_IDS, StreamStep, _depth, _packed_trees
from streamflow.generator import GeneratorConfig, generate_stream
from tests.factories import BASE_TIME, make_bundle, make_event

BOUND_MS = 60_000
WINDOW_MS = 2160 * 3_600_000
RULES = RulesConfig.from_dict({"blacklist": {"store_ids": ["S00003"], "card_ids": ["K-bad"]}})


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return make_bundle(n_estimators=40, training_rows=2000, feature_scale=(2.0, 3.0, 4.0, 300.0, 0.3, 2.0))


def _replay_both(
    events: Iterable[Event],
    rules: RulesConfig,
    bundle: ModelBundle | None,
    *,
    dedup_window_ms: int = WINDOW_MS,
) -> int:
    """Step every event through both paths, asserting equal results; the number compared."""
    step = StreamStep(rules, bundle, max_out_of_orderness_ms=BOUND_MS, dedup_window_ms=dedup_window_ms)
    packed: dict[str, tuple[bytes | None, bytes]] = {}
    readable: dict[str, tuple[CustomerState | None, RecentTransactions]] = {}
    compared = 0
    for event in events:
        state, ids = packed.get(event.customer_id, (None, b""))
        result = step(state, ids, event)
        before, recent = readable.get(event.customer_id, (None, RecentTransactions()))
        if event.transaction_id in recent:
            assert result is None
            continue
        assert result is not None
        late = recent.is_late(event.event_time_ms, max_out_of_orderness_ms=BOUND_MS)
        assessment, after = process_event(before, event, rules)
        recent.remember(event.transaction_id, event.event_time_ms, window_ms=dedup_window_ms)
        assert result.features == assessment.features
        assert result.fired_rules == tuple(rule.rule_id for rule in assessment.fired_rules)
        assert result.rules_score == assessment.rules_score
        assert result.late == late
        expected_depth = bundle.path_lengths(np.array([assessment.features]))[0] if bundle is not None else None
        assert result.depth == expected_depth
        assert result.state == after.to_bytes()
        assert result.ids == recent.packed()
        packed[event.customer_id] = (result.state, result.ids)
        readable[event.customer_id] = (after, recent)
        compared += 1
    return compared


def test_a_generated_stream_steps_exactly_as_the_core_scores_it(bundle: ModelBundle) -> None:
    config = GeneratorConfig.from_dict({"n_events": 6000, "n_customers": 150, "days": 5}, ["S00003"])
    stream = generate_stream(config, ContractConfig())
    events = []
    for name in sorted(stream.partitions):
        for line in stream.partitions[name].splitlines():
            try:
                events.append(_parse(line))
            except EventError:  # the generator's malformed lines
                continue
    assert _replay_both(events, RULES, bundle) > 5000
    assert _replay_both(events, RULES, None) > 5000


def _parse(line: str) -> Event:
    from streamflow.core import parse_event

    return parse_event(line)


@st.composite
def _customer_events(draw: st.DrawFn) -> list[Event]:
    """A few customers' events, out of order, repeated, far apart or at the same instant."""
    count = draw(st.integers(min_value=1, max_value=40))
    events = []
    for index in range(count):
        minutes = draw(st.one_of(st.floats(min_value=-600, max_value=6000), st.sampled_from([0.0, 0.5, 1.0])))
        events.append(
            make_event(
                minutes=round(minutes, 3),
                transaction_id=draw(st.sampled_from([f"T{index}", "T-repeat"])),
                customer_id=draw(st.sampled_from(["C1", "C2"])),
                card_id=draw(st.sampled_from(["K1", "K-bad"])),
                amount=draw(st.floats(min_value=0.01, max_value=50_000, allow_nan=False)),
                latitude=draw(st.floats(min_value=-90, max_value=90)),
                longitude=draw(st.floats(min_value=-180, max_value=180)),
                timestamp=(BASE_TIME + timedelta(minutes=round(minutes, 3)))
                .astimezone(draw(st.sampled_from([BASE_TIME.tzinfo, _zone(330), _zone(-420)])))
                .isoformat(),
            )
        )
    return events


def _zone(minutes: int):  # type: ignore[no-untyped-def]
    from datetime import timezone

    return timezone(timedelta(minutes=minutes))


@settings(max_examples=60, deadline=None)
@given(events=_customer_events())
def test_random_event_sequences_step_exactly_as_the_core_scores_them(events: list[Event]) -> None:
    rules = RulesConfig.from_dict(
        {"velocity": {"max_transactions": 2, "window_minutes": 30, "max_tracked_events": 4}, "min_history": 2}
    )
    _replay_both(events, rules, None, dedup_window_ms=90 * 60_000)


def test_ids_beyond_the_cap_are_forgotten_oldest_first() -> None:
    events = [make_event(minutes=index / 100, transaction_id=f"T{index}") for index in range(MAX_REMEMBERED_IDS + 3)]
    assert _replay_both(events, RULES, None) == MAX_REMEMBERED_IDS + 3


def test_a_repeated_transaction_id_is_reported_and_changes_nothing() -> None:
    step = StreamStep(RULES, None, max_out_of_orderness_ms=BOUND_MS, dedup_window_ms=WINDOW_MS)
    first = step(None, b"", make_event(transaction_id="T1"))
    assert first is not None
    assert step(first.state, first.ids, make_event(minutes=5, transaction_id="T1")) is None


def test_rule_ids_are_in_the_order_the_rules_are_evaluated() -> None:
    _, state = process_event(None, make_event(), RULES)
    from streamflow.core.features import rule_inputs

    results = evaluate_rules(rule_inputs(state, make_event(minutes=1), RULES), RULES)
    assert tuple(result.rule_id for result in results) == RULE_IDS


def _recrc(raw: bytes) -> bytes:
    return raw[:-4] + struct.pack("<I", zlib.crc32(raw[:-4]))


@pytest.mark.parametrize(
    ("mangle", "code"),
    [
        (lambda raw: raw[:40], "state_truncated"),
        (lambda raw: b"XX" + raw[2:], "state_bad_magic"),
        (lambda raw: raw[:2] + b"\x02" + raw[3:], "state_unsupported_version"),
        (lambda raw: raw[:20] + bytes([raw[20] ^ 0xFF]) + raw[21:], "state_checksum_mismatch"),
        (lambda raw: _recrc(raw[:28] + struct.pack("<I", 999) + raw[32:]), "state_invalid"),
    ],
)
def test_an_unreadable_state_raises_the_cores_error(mangle: object, code: str) -> None:
    step = StreamStep(RULES, None, max_out_of_orderness_ms=BOUND_MS, dedup_window_ms=WINDOW_MS)
    first = step(None, b"", make_event(transaction_id="T1"))
    assert first is not None
    with pytest.raises(StateError) as caught:
        step(mangle(first.state), first.ids, make_event(minutes=5, transaction_id="T2"))  # type: ignore[operator]
    assert caught.value.code == code


def test_remembered_ids_that_are_not_whole_pairs_are_rejected() -> None:
    step = StreamStep(RULES, None, max_out_of_orderness_ms=BOUND_MS, dedup_window_ms=WINDOW_MS)
    with pytest.raises(StateError):
        step(None, b"\x00" * 15, make_event())


def test_the_packed_walk_takes_the_batch_walks_path_for_any_float(bundle: ModelBundle) -> None:
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(3000, 6)) * rng.choice([1e-3, 1.0, 1e3, 1e40], size=(3000, 6))
    rows[rng.random(rows.shape) < 0.05] = np.nan
    rows[rng.random(rows.shape) < 0.02] = np.inf
    thresholds = bundle.arrays["threshold"][bundle.arrays["left"] != -1]
    rows[:200] = rng.choice(thresholds, size=(200, 6))  # exactly on a split
    offsets, nodes, leaf_value, tree_depth = _packed_trees(bundle)
    with np.errstate(over="ignore"):  # 1e40 is beyond float32: infinity, in both walks
        cursors = np.zeros(offsets.shape[0] - 1, dtype=np.int64)
        walked = [_depth(row.astype(np.float32), offsets, nodes, leaf_value, tree_depth, cursors) for row in rows]
        assert walked == list(bundle.path_lengths(rows))
