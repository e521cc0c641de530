"""A customer's remembered transaction ids: the dedup window, the cap, lateness."""

import numpy as np

from streamflow.core.dedup import (
    MAX_IDS_BYTES,
    MAX_REMEMBERED_IDS,
    id_hash,
    is_late,
    is_remembered,
    remember_id,
    unpacked_ids,
)


def _remember(packed: bytes, transaction_id: str, time_ms: int, window_ms: int) -> bytes:
    hashes, times = unpacked_ids(np.frombuffer(packed, dtype=np.uint8))
    out = np.zeros(MAX_IDS_BYTES, dtype=np.uint8)
    size = remember_id(hashes, times, id_hash(transaction_id), time_ms, window_ms, out)
    return out[:size].tobytes()


def _holds(packed: bytes, *transaction_ids: str) -> list[bool]:
    hashes, _ = unpacked_ids(np.frombuffer(packed, dtype=np.uint8))
    return [bool(is_remembered(hashes, id_hash(transaction_id))) for transaction_id in transaction_ids]


def test_remembered_transactions_are_kept_for_the_window_after_the_newest() -> None:
    packed = _remember(b"", "T1", 1_000, 500)
    packed = _remember(packed, "T2", 1_400, 500)
    assert _holds(packed, "T1", "T2", "T3") == [True, True, False]
    packed = _remember(packed, "T3", 1_600, 500)
    assert _holds(packed, "T1", "T2", "T3") == [False, True, True]
    assert len(packed) == 2 * 16
    packed = _remember(packed, "T0", 900, 500)  # out of order: kept until the ids before it go
    assert _holds(packed, "T0") == [True]
    packed = _remember(packed, "T4", 2_000, 500)
    assert _holds(packed, "T2", "T3", "T0", "T4") == [False, True, True, True]


def test_remembered_transactions_are_capped_oldest_first() -> None:
    packed = b""
    for index in range(MAX_REMEMBERED_IDS + 5):
        packed = _remember(packed, f"T{index}", index, 10**12)
    assert len(packed) == 16 * MAX_REMEMBERED_IDS
    assert _holds(packed, "T0", f"T{MAX_REMEMBERED_IDS + 4}") == [False, True]


def test_lateness_is_judged_against_the_customers_newest_event() -> None:
    assert not is_late(np.zeros(0, dtype=np.int64), 0, 60_000)  # a first event is never late
    _, times = unpacked_ids(np.frombuffer(_remember(b"", "T1", 1_000_000, 10**9), dtype=np.uint8))
    assert not is_late(times, 1_000_000 - 60_000, 60_000)  # within the bound
    assert is_late(times, 1_000_000 - 60_001, 60_000)
