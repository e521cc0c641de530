"""What a scoring task keeps besides the outputs: each customer's slot, a cache of slots, the event clock.

Plain Python, no Flink: ``flink_app.job`` holds these in its keyed function.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Generic, TypeVar

# What the job keeps per customer in one Flink ``ValueState``: the core's serialized
# ``CUSTOMER_STATE`` (``None`` before the first event) and its remembered transaction ids (``core.dedup``);
# while outcomes wait for the customer's next event (ADR 0014), a third: their OUTCOME_INPUT records.
# A plain tuple of bytes: it pickles fastest.
CustomerSlot = tuple[bytes | None, bytes] | tuple[bytes | None, bytes, bytes]
EMPTY_SLOT: CustomerSlot = (None, b"")
Slot = TypeVar("Slot")  # what a cache holds per entity: a CustomerSlot, or a merchant's serialized state


def freeze_startup_objects() -> None:
    """Leave the objects made so far (modules, the bundle, compiled code) out of the garbage collector's scans.

    They live as long as the task. In PyFlink's embedded interpreter they are hundreds of
    thousands, and each full collection while the task scores would walk them all again.
    """
    gc.freeze()


class EventClock:
    """Event time of one task, as Flink's bounded out-of-orderness watermark generator keeps it.

    The watermark is the newest event time seen minus the bound (minus 1 ms); an event at or
    behind it is late.
    """

    def __init__(self, max_out_of_orderness_ms: int) -> None:
        self._bound_ms = max_out_of_orderness_ms
        self.newest_ms: int | None = None

    @property
    def watermark_ms(self) -> int | None:
        """The current watermark (``None`` before the first event)."""
        return None if self.newest_ms is None else self.newest_ms - self._bound_ms - 1

    def observe(self, event_time_ms: int) -> bool:
        """Note one event's time; whether it was late (at or behind the watermark before it)."""
        watermark = self.watermark_ms
        if self.newest_ms is None or event_time_ms > self.newest_ms:
            self.newest_ms = event_time_ms
        return watermark is not None and event_time_ms <= watermark


class SlotCache(Generic[Slot]):
    """The slots the task last wrote to Flink state for recently scored entities, to spare reading them.

    The scoring function is the only writer of its keyed state, so a slot it wrote is what the
    state holds until Flink's TTL expires it: an entry older than the TTL (processing time, as
    Flink counts it) reads as absent. A restored task starts with an empty cache. At most
    ``capacity`` entities are kept; the least recently written go first.
    """

    def __init__(self, capacity: int, ttl_ms: int) -> None:
        self._capacity = capacity
        self._ttl_ms = ttl_ms
        self._slots: dict[str, tuple[Slot, int]] = {}

    def get(self, entity_id: str, now_ms: int, read: Callable[[str], Slot | None]) -> Slot | None:
        """The entity's slot (``None`` once expired); ``read`` from the state when not cached."""
        cached = self._slots.get(entity_id)
        if cached is None:
            return read(entity_id)
        slot, written_ms = cached
        return slot if now_ms - written_ms <= self._ttl_ms else None

    def put_all(self, slots: dict[str, Slot], now_ms: int) -> None:
        """Note the slots just written to the state."""
        cached = self._slots
        for entity_id, slot in slots.items():
            cached.pop(entity_id, None)
            cached[entity_id] = (slot, now_ms)
        for _ in range(len(cached) - self._capacity):
            del cached[next(iter(cached))]
