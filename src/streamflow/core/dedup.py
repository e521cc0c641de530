"""A customer's recent transaction ids, packed small, for dropping repeated events."""

from __future__ import annotations

import hashlib
from array import array

MAX_REMEMBERED_IDS = 4096  # per customer; the oldest arrivals go first beyond it


class RecentTransactions:
    """A customer's transaction ids within the dedup window, as 64-bit hashes with event times.

    Compact (16 bytes an id) so that months of ids cost little to load and store on every
    event. Two different ids share a hash with odds of about ``n**2 / 2**65`` (1e-13 for
    4,096 ids): a repeat is then reported where there is none.
    """

    def __init__(self, packed: bytes = b"") -> None:
        half = len(packed) // 2
        self._hashes = array("q", packed[:half])
        self._times = array("q", packed[half:])
        self._newest_ms = max(self._times) if self._times else None

    def __contains__(self, transaction_id: object) -> bool:
        return isinstance(transaction_id, str) and id_hash(transaction_id) in self._hashes

    def __len__(self) -> int:
        return len(self._hashes)

    def is_late(self, event_time_ms: int, *, max_out_of_orderness_ms: int) -> bool:
        """Whether the event is older than the customer's newest remembered one by more than the bound."""
        return self._newest_ms is not None and event_time_ms < self._newest_ms - max_out_of_orderness_ms

    def remember(self, transaction_id: str, event_time_ms: int, *, window_ms: int) -> None:
        """Add one id; forget, oldest arrival first, ids older than the newest time minus ``window_ms``.

        Ids leave in arrival order (cheap: no scan of the rest), so one that arrived out of
        order stays until those before it go; beyond ``MAX_REMEMBERED_IDS`` the oldest go.
        """
        self._hashes.append(id_hash(transaction_id))
        self._times.append(event_time_ms)
        self._newest_ms = event_time_ms if self._newest_ms is None else max(self._newest_ms, event_time_ms)
        horizon = self._newest_ms - window_ms
        times = self._times
        expired = 0
        while times[expired] < horizon:  # the newest time is never below the horizon
            expired += 1
        expired = max(expired, len(times) - MAX_REMEMBERED_IDS)
        if expired:
            del self._hashes[:expired]
            del self._times[:expired]

    def packed(self) -> bytes:
        """The bytes ``RecentTransactions(packed)`` reads back: every hash, then every time (int64, native order)."""
        return self._hashes.tobytes() + self._times.tobytes()


def id_hash(transaction_id: str) -> int:
    """The signed 64-bit hash under which a transaction id is remembered."""
    digest = hashlib.blake2b(transaction_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)
