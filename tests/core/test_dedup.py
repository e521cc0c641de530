"""A customer's remembered transaction ids: the dedup window, the cap, lateness."""

from streamflow.core.dedup import MAX_REMEMBERED_IDS, RecentTransactions


def test_remembered_transactions_are_kept_for_the_window_after_the_newest() -> None:
    recent = RecentTransactions()
    recent.remember("T1", 1_000, window_ms=500)
    recent.remember("T2", 1_400, window_ms=500)
    assert "T1" in recent
    assert "T2" in recent
    assert "T3" not in recent
    recent.remember("T3", 1_600, window_ms=500)
    assert "T1" not in recent
    assert len(recent) == 2
    again = RecentTransactions(recent.packed())
    assert "T2" in again
    assert "T3" in again
    assert len(again) == 2
    again.remember("T0", 900, window_ms=500)  # out of order: kept until the ids before it go
    assert "T0" in again
    again.remember("T4", 2_000, window_ms=500)
    assert list(map(again.__contains__, ("T2", "T3", "T0", "T4"))) == [False, True, True, True]


def test_remembered_transactions_are_capped_oldest_first() -> None:
    recent = RecentTransactions()
    for index in range(MAX_REMEMBERED_IDS + 5):
        recent.remember(f"T{index}", index, window_ms=10**12)
    assert len(recent) == MAX_REMEMBERED_IDS
    assert "T0" not in recent
    assert f"T{MAX_REMEMBERED_IDS + 4}" in recent


def test_lateness_is_judged_against_the_customers_newest_event() -> None:
    recent = RecentTransactions()
    assert recent.is_late(0, max_out_of_orderness_ms=60_000) is False  # a first event is never late
    recent.remember("T1", 1_000_000, window_ms=10**9)
    assert recent.is_late(1_000_000 - 60_000, max_out_of_orderness_ms=60_000) is False  # within the bound
    assert recent.is_late(1_000_000 - 60_001, max_out_of_orderness_ms=60_000) is True
