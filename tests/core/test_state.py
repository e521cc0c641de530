import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamflow.core import CustomerState, RunningStats, StateError
from streamflow.core.state import MAX_TRACKED_EVENTS
from tests.factories import make_event

finite_amounts = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(finite_amounts, min_size=2, max_size=300))
def test_welford_matches_numpy_mean_and_sample_variance(values: list[float]) -> None:
    stats = RunningStats()
    for value in values:
        stats.add(value)
    assert stats.count == len(values)
    assert stats.mean == pytest.approx(np.mean(values), rel=1e-12, abs=1e-9)
    assert stats.variance == pytest.approx(np.var(values, ddof=1), rel=1e-9, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(st.lists(finite_amounts, max_size=200), st.lists(finite_amounts, max_size=200))
def test_merged_stats_equal_stats_of_the_concatenation(left: list[float], right: list[float]) -> None:
    a, b, both = RunningStats(), RunningStats(), RunningStats()
    for value in left:
        a.add(value)
        both.add(value)
    for value in right:
        b.add(value)
        both.add(value)
    merged = a.merge(b)
    assert merged.count == both.count
    assert merged.mean == pytest.approx(both.mean, rel=1e-12, abs=1e-9)
    assert merged.variance == pytest.approx(both.variance, rel=1e-9, abs=1e-6)


def test_welford_stays_accurate_with_a_large_offset() -> None:
    rng = np.random.default_rng(0)
    values = 1e9 + rng.normal(0, 1, 10_000)
    stats = RunningStats()
    for value in values.tolist():
        stats.add(value)
    assert stats.variance == pytest.approx(np.var(values, ddof=1), rel=1e-6)


def test_variance_is_zero_below_two_observations() -> None:
    stats = RunningStats()
    assert stats.variance == 0.0
    stats.add(5.0)
    assert stats.variance == 0.0
    assert stats.std == 0.0


def _state_after(n: int) -> CustomerState:
    state = CustomerState()
    for i in range(n):
        state = state.updated(make_event(minutes=i * 3, amount=10.0 + i), window_ms=600_000, max_tracked_events=64)
    return state


@pytest.mark.parametrize("n", [0, 1, 2, 17])
def test_state_round_trips_exactly_through_bytes(n: int) -> None:
    state = _state_after(n)
    assert CustomerState.from_bytes(state.to_bytes()) == state


def test_serialized_size_is_fixed_plus_eight_bytes_per_recent_time() -> None:
    empty = len(CustomerState().to_bytes())
    state = _state_after(3)
    assert len(state.to_bytes()) == empty + 8 * len(state.recent_event_times_ms)


def test_updated_does_not_change_the_original_state() -> None:
    state = _state_after(2)
    before = state.to_bytes()
    state.updated(make_event(minutes=100), window_ms=600_000, max_tracked_events=64)
    assert state.to_bytes() == before


def test_velocity_window_evicts_old_times_and_respects_the_cap() -> None:
    state = _state_after(10)  # events 3 minutes apart, window 10 minutes
    assert state.recent_event_times_ms == sorted(state.recent_event_times_ms)
    assert len(state.recent_event_times_ms) == 4  # 27, 24, 21, 18 minutes: within 10 min of the newest
    capped = CustomerState()
    for i in range(10):
        capped = capped.updated(make_event(minutes=i * 0.01), window_ms=600_000, max_tracked_events=6)
    assert len(capped.recent_event_times_ms) == 6


def test_out_of_order_event_is_inserted_in_time_order() -> None:
    state = _state_after(3)
    late = state.updated(make_event(minutes=4), window_ms=600_000, max_tracked_events=64)
    assert late.recent_event_times_ms == sorted(late.recent_event_times_ms)


def _corrupt_crc(raw: bytes) -> bytes:
    content = raw[:-4]
    return content + struct.pack("<I", zlib.crc32(content))


@pytest.mark.parametrize(
    ("mangle", "code"),
    [
        (lambda raw: raw[:2], "state_truncated"),
        (lambda raw: raw[:40], "state_truncated"),
        (lambda raw: raw[:-1], "state_truncated"),
        (lambda raw: raw + b"\x00", "state_truncated"),
        (lambda raw: b"XX" + raw[2:], "state_bad_magic"),
        (lambda raw: raw[:2] + b"\x02" + raw[3:], "state_unsupported_version"),
        (lambda raw: raw[:2] + b"\x00" + raw[3:], "state_unsupported_version"),
        (lambda raw: raw[:20] + bytes([raw[20] ^ 0xFF]) + raw[21:], "state_checksum_mismatch"),
        (lambda raw: raw[:-4] + b"\x00\x00\x00\x00", "state_checksum_mismatch"),
        (lambda raw: _corrupt_crc(raw[:3] + b"\x80" + raw[4:]), "state_invalid"),
        (lambda raw: _corrupt_crc(raw[:4] + struct.pack("<q", -1) + raw[12:]), "state_invalid"),
        (lambda raw: _corrupt_crc(raw[:20] + struct.pack("<d", -5.0) + raw[28:]), "state_invalid"),
        (lambda raw: _corrupt_crc(raw[:28] + struct.pack("<I", 999) + raw[32:]), "state_invalid"),
        (lambda raw: _corrupt_crc(raw[:124] + struct.pack("<d", 95.0) + raw[132:]), "state_invalid"),
    ],
    ids=[
        "header-only",
        "cut-in-body",
        "cut-crc",
        "trailing-byte",
        "bad-magic",
        "newer-version",
        "version-zero",
        "flipped-byte",
        "zeroed-crc",
        "unknown-flag",
        "negative-count",
        "negative-m2",
        "hours-do-not-add-up",
        "latitude-out-of-range",
    ],
)
def test_corrupted_state_raises_a_typed_error(mangle: object, code: str) -> None:
    raw = _state_after(5).to_bytes()
    with pytest.raises(StateError) as caught:
        CustomerState.from_bytes(mangle(raw))  # type: ignore[operator]
    assert caught.value.code == code


def test_unsorted_recent_times_are_rejected() -> None:
    state = _state_after(3)
    state.recent_event_times_ms = list(reversed(state.recent_event_times_ms))
    with pytest.raises(StateError) as caught:
        CustomerState.from_bytes(state.to_bytes())
    assert caught.value.code == "state_invalid"


def test_hard_cap_on_tracked_events_is_enforced_when_reading() -> None:
    state = _state_after(1)
    state.recent_event_times_ms = list(range(MAX_TRACKED_EVENTS + 1))
    with pytest.raises(StateError):
        CustomerState.from_bytes(state.to_bytes())
