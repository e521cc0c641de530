"""Windowed aggregates in time tiles: one ring of tiles per window, for every entity's state.

A window of length ``L`` is read in whole tiles of ``L / TILES_PER_WINDOW``: exact at the tile's
granularity, and bounded in memory (a ring of tiles per window, whatever the event rate). Each
tile holds an event count and a sum. The customer state (``core.state``) and the merchant state
(``core.merchant``) keep their rings in their records and call these functions on them.

The windows are part of the states' layouts, so they are constants, not config: changing them is
a new state version.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streamflow.core.compiled import compiled

WINDOW_LABELS = ("1h", "1d", "7d", "30d")
WINDOW_LENGTHS_MS = (3_600_000, 86_400_000, 7 * 86_400_000, 30 * 86_400_000)
TILES_PER_WINDOW = 12  # a window is read as this many whole tiles: 5 min, 2 h, 14 h and 60 h
N_WINDOWS = len(WINDOW_LENGTHS_MS)
TILE_LENGTHS_MS = np.array([length // TILES_PER_WINDOW for length in WINDOW_LENGTHS_MS], dtype=np.int64)
# A merchant's ring (core.merchant): the window's tiles, up to three tiles within the lag, the current one.
MERCHANT_RING = TILES_PER_WINDOW + 4
MAX_MERCHANT_LAG_MS = int((MERCHANT_RING - TILES_PER_WINDOW - 1) * TILE_LENGTHS_MS.min())  # 15 minutes


@compiled
def tile_of(window: int, time_ms: int) -> int:
    """The index of the tile of ``window`` that holds ``time_ms`` (tiles start at the epoch)."""
    return int(time_ms // TILE_LENGTHS_MS[window])


@compiled
def add_to_ring(newest_tiles: Any, counts: Any, sums: Any, window: int, time_ms: int, value: Any) -> None:
    """Count one event and add ``value`` in ``window``'s tile for ``time_ms``.

    The ring holds ``counts.shape[1]`` tiles, the newest seen and those before it. A newer tile
    first clears the tiles it reuses; an event whose tile has left the ring is not counted.
    """
    ring = counts.shape[1]
    tile = tile_of(window, time_ms)
    newest = newest_tiles[window]
    if tile > newest:  # time moved on: clear the tiles the ring reuses
        for cleared in range(max(newest + 1, tile - ring + 1), tile + 1):
            counts[window, cleared % ring] = 0
            sums[window, cleared % ring] = 0
        newest_tiles[window] = tile
        newest = tile
    if tile > newest - ring:
        counts[window, tile % ring] += 1
        sums[window, tile % ring] += value


@compiled
def ring_totals(newest_tiles: Any, counts: Any, sums: Any, window: int, last_tile: int) -> tuple[int, Any]:
    """Events and their sum in the window's ``TILES_PER_WINDOW`` tiles up to ``last_tile`` that the ring holds."""
    ring = counts.shape[1]
    newest = newest_tiles[window]
    count = 0
    total = sums[window, 0] * 0  # zero of the sums' type
    for covered in range(max(last_tile - TILES_PER_WINDOW + 1, newest - ring + 1), min(last_tile, newest) + 1):
        count += counts[window, covered % ring]
        total += sums[window, covered % ring]
    return count, total
