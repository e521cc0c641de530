"""A customer's recent transaction ids, packed small, for dropping repeated events.

The ids within the dedup window are kept as 64-bit hashes with their event times, packed as
every hash then every time (int64, native order): 16 bytes an id, so months of ids cost little
to load and store on every event. Two different ids share a hash with odds of about
``n**2 / 2**65`` (1e-13 for 4,096 ids): a repeat is then reported where there is none.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from streamflow.core.compiled import compiled

MAX_REMEMBERED_IDS = 4096  # per customer; the oldest arrivals go first beyond it
MAX_IDS_BYTES = 16 * MAX_REMEMBERED_IDS


def id_hash(transaction_id: str) -> int:
    """The signed 64-bit hash under which a transaction id is remembered."""
    digest = hashlib.blake2b(transaction_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


@compiled
def unpacked_ids(packed: Any) -> tuple[Any, Any]:
    """The hashes and the times of packed ids (a whole number of 16-byte pairs)."""
    count = packed.shape[0] // 16
    return packed[: 8 * count].view(np.int64), packed[8 * count : 16 * count].view(np.int64)


@compiled
def is_late(times: Any, event_time_ms: int, max_out_of_orderness_ms: int) -> bool:
    """Whether the event is older than the customer's newest remembered one by more than the bound."""
    return bool(times.shape[0] > 0 and event_time_ms < times.max() - max_out_of_orderness_ms)


@compiled
def remember_id(hashes: Any, times: Any, new_hash: int, event_time_ms: int, window_ms: int, out: Any) -> int:
    """The ids with one more remembered, packed into ``out``; their size in bytes.

    Ids leave in arrival order (cheap: no scan of the rest), once older than the newest time
    minus ``window_ms``: one that arrived out of order stays until those before it go. Beyond
    ``MAX_REMEMBERED_IDS`` the oldest arrivals go.
    """
    count = hashes.shape[0]
    newest = max(times.max(), event_time_ms) if count > 0 else event_time_ms
    horizon = newest - window_ms
    expired = 0
    while expired < count and times[expired] < horizon:
        expired += 1
    expired = max(expired, count + 1 - MAX_REMEMBERED_IDS)
    kept = count + 1 - expired
    new_hashes = out[: 8 * kept].view(np.int64)
    new_times = out[8 * kept : 16 * kept].view(np.int64)
    new_hashes[: kept - 1] = hashes[expired:]
    new_times[: kept - 1] = times[expired:]
    new_hashes[kept - 1] = new_hash
    new_times[kept - 1] = event_time_ms
    return int(16 * kept)


@compiled
def is_remembered(hashes: Any, new_hash: int) -> bool:
    """Whether a transaction id's hash is among the remembered ones (a loop: no temporary array on every event)."""
    for remembered in hashes:  # noqa: SIM110 - numba compiles the loop, not any() over a generator
        if remembered == new_hash:
            return True
    return False
