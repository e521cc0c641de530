import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamflow.core import ConfigError, CustomerState, RulesConfig, StateError, process_event
from streamflow.core.state import CUSTOMER_STATE, RECENT_CAPACITY
from tests.factories import make_event

finite_amounts = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)
RULES = RulesConfig()


def _offset(field: str) -> int:
    """Where a field of the record sits in the serialized state (after the 4-byte header)."""
    return 4 + CUSTOMER_STATE.fields[field][1]


def _folded(amounts: list[float], *, minutes_apart: float = 3.0, rules: RulesConfig = RULES) -> CustomerState:
    state = None
    for i, amount in enumerate(amounts):
        _, state = process_event(state, make_event(minutes=i * minutes_apart, amount=amount), rules)
    assert state is not None
    return state


@settings(max_examples=100, deadline=None)
@given(st.lists(finite_amounts, min_size=2, max_size=200))
def test_welford_matches_numpy_mean_and_sample_variance(values: list[float]) -> None:
    state = _folded(values)
    assert state.event_count == len(values)
    assert state.amount_mean == pytest.approx(np.mean(values), rel=1e-12, abs=1e-9)
    assert state.amount_std**2 == pytest.approx(np.var(values, ddof=1), rel=1e-9, abs=1e-6)


def test_welford_stays_accurate_with_a_large_offset() -> None:
    values = (9e5 + np.random.default_rng(0).normal(0, 1, 2_000)).tolist()  # amounts stop at 1e6
    assert _folded(values).amount_std ** 2 == pytest.approx(np.var(values, ddof=1), rel=1e-4)


def test_variance_is_zero_below_two_observations() -> None:
    assert CustomerState().amount_std == 0.0
    assert _folded([5.0]).amount_std == 0.0


def _state_after(n: int) -> CustomerState:
    return _folded([10.0 + i for i in range(n)]) if n else CustomerState()


@pytest.mark.parametrize("n", [0, 1, 2, 17])
def test_state_round_trips_exactly_through_bytes(n: int) -> None:
    state = _state_after(n)
    restored = CustomerState.from_bytes(state.to_bytes())
    assert restored.record.tobytes() == state.record.tobytes()


def test_serialized_size_is_fixed_plus_eight_bytes_per_recent_time() -> None:
    empty = len(CustomerState().to_bytes())
    state = _state_after(3)
    assert len(state.to_bytes()) == empty + 8 * len(state.recent_times_ms) == empty + 24


def test_process_event_does_not_change_the_given_state() -> None:
    state = _state_after(2)
    before = state.to_bytes()
    process_event(state, make_event(minutes=100), RULES)
    assert state.to_bytes() == before


def test_velocity_window_evicts_old_times_and_respects_the_cap() -> None:
    state = _state_after(10)  # events 3 minutes apart, window 10 minutes
    assert state.recent_times_ms == sorted(state.recent_times_ms)
    assert len(state.recent_times_ms) == 4  # 27, 24, 21, 18 minutes: within 10 min of the newest
    capped = RulesConfig.from_dict({"velocity": {"max_tracked_events": 6}})
    assert len(_folded([1.0] * 10, minutes_apart=0.01, rules=capped).recent_times_ms) == 6


def test_out_of_order_event_is_inserted_in_time_order() -> None:
    state = _state_after(3)
    _, late = process_event(state, make_event(minutes=4), RULES)
    assert late.recent_times_ms == sorted(late.recent_times_ms)
    assert len(late.recent_times_ms) == 4


def test_the_cap_on_tracked_events_cannot_exceed_the_records_capacity() -> None:
    with pytest.raises(ConfigError) as caught:
        RulesConfig.from_dict({"velocity": {"max_tracked_events": RECENT_CAPACITY + 1}})
    assert "at most 64" in str(caught.value)


def _corrupt_crc(raw: bytes) -> bytes:
    content = raw[:-4]
    return content + struct.pack("<I", zlib.crc32(content))


def _put(raw: bytes, field: str, packed: bytes) -> bytes:
    at = _offset(field)
    return _corrupt_crc(raw[:at] + packed + raw[at + len(packed) :])


@pytest.mark.parametrize(
    ("mangle", "code"),
    [
        (lambda raw: raw[:2], "state_truncated"),
        (lambda raw: raw[:40], "state_truncated"),
        (lambda raw: raw[:-1], "state_truncated"),
        (lambda raw: raw + b"\x00", "state_truncated"),
        (lambda raw: b"XX" + raw[2:], "state_bad_magic"),
        (lambda raw: raw[:2] + b"\x05" + raw[3:], "state_unsupported_version"),
        (lambda raw: raw[:2] + b"\x01" + raw[3:], "state_unsupported_version"),
        (lambda raw: raw[:20] + bytes([raw[20] ^ 0xFF]) + raw[21:], "state_checksum_mismatch"),
        (lambda raw: raw[:-4] + b"\x00\x00\x00\x00", "state_checksum_mismatch"),
        (lambda raw: _corrupt_crc(raw[:3] + b"\x80" + raw[4:]), "state_unsupported_version"),
        (lambda raw: _put(raw, "event_count", struct.pack("<q", -1)), "state_invalid"),
        (lambda raw: _put(raw, "amount_m2", struct.pack("<d", -5.0)), "state_invalid"),
        (lambda raw: _put(raw, "hour_counts", struct.pack("<I", 999)), "state_invalid"),
        (lambda raw: _put(raw, "last_latitude", struct.pack("<d", 95.0)), "state_invalid"),
        (lambda raw: _put(raw, "recent_count", struct.pack("<q", RECENT_CAPACITY + 1)), "state_invalid"),
    ],
    ids=[
        "header-only",
        "cut-in-body",
        "cut-crc",
        "trailing-byte",
        "bad-magic",
        "newer-version",
        "version-one",
        "flipped-byte",
        "zeroed-crc",
        "unknown-flag",
        "negative-count",
        "negative-m2",
        "hours-do-not-add-up",
        "latitude-out-of-range",
        "beyond-capacity",
    ],
)
def test_corrupted_state_raises_a_typed_error(mangle: object, code: str) -> None:
    raw = _state_after(5).to_bytes()
    with pytest.raises(StateError) as caught:
        CustomerState.from_bytes(mangle(raw))  # type: ignore[operator]
    assert caught.value.code == code


def test_unsorted_recent_times_are_rejected() -> None:
    state = _state_after(3)
    recent = state.record[0]["recent_times_ms"]
    recent[:3] = recent[:3][::-1].copy()
    with pytest.raises(StateError) as caught:
        CustomerState.from_bytes(state.to_bytes())
    assert caught.value.code == "state_invalid"
