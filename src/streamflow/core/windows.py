"""Windowed aggregates in time tiles: one ring of tiles per window, for every entity's state.

A window of length ``L`` is read in whole tiles of ``L / TILES_PER_WINDOW``: exact at the tile's
granularity, and bounded in memory (a ring of tiles per window, whatever the event rate). Each
tile holds an event count and a sum. The customer state (``core.state``) and the merchant state
(``core.merchant``) keep their rings in their records and call these functions on them.

Every state holds ``N_WINDOWS`` rings. Their lengths are config (``features.windows``, labels
such as ``1h`` or ``30d``; by default ``DEFAULT_WINDOWS``): the step reads each ring's tile length
from its params record (``window_tile_ms``), and a window feature finds its ring by length
(:func:`window_slot`). A state's tiles only mean something under the lengths they were counted
with, so the stream's operators name non-default windows in their uids (docs/runbooks.md).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamflow.core.compiled import compiled, compiled_inline
from streamflow.core.errors import ConfigError

DEFAULT_WINDOWS = ("1h", "1d", "7d", "30d")
N_WINDOWS = len(DEFAULT_WINDOWS)  # rings per state: part of the states' layouts
TILES_PER_WINDOW = 12  # a window is read as this many whole tiles: by default 5 min, 2 h, 14 h and 60 h
# A merchant's ring (core.merchant): the window's tiles, up to three tiles within the lag, the current one.
MERCHANT_RING = TILES_PER_WINDOW + 4
LAG_TILES = MERCHANT_RING - TILES_PER_WINDOW - 1  # the merchant lag is at most this many of the shortest window's tiles
UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
_LABEL = re.compile(r"([1-9][0-9]{0,4})([mhd])")


def window_length_ms(label: str) -> int:
    """The length of a window label: a whole number of minutes, hours or days in its largest unit (``30m``, ``7d``).

    One length has one label (``1h``, never ``60m``), so a feature's name says its window.

    Raises:
        ConfigError: Not such a label.

    """
    match = _LABEL.fullmatch(label)
    length = int(match[1]) * UNIT_MS[match[2]] if match else 0
    if not length or window_label(length) != label:
        canonical = f" (write {window_label(length)})" if length else ""
        raise ConfigError(
            f"features.windows: a window is a whole number of minutes, hours or days in its largest unit (1h, "
            f"not 60m), got {label!r}{canonical}",
            key="features.windows",
            expected="<n>m, <n>h or <n>d",
            got=label,
        )
    return length


def window_label(length_ms: int) -> str:
    """The label of a window ``length_ms`` long: in days, else hours, else minutes, whichever is whole."""
    unit = next(unit for unit in ("d", "h", "m") if length_ms % UNIT_MS[unit] == 0)
    return f"{length_ms // UNIT_MS[unit]}{unit}"


def tile_length_ms(label: str) -> int:
    """The length of the window's tiles: a twelfth of the window."""
    return window_length_ms(label) // TILES_PER_WINDOW


def tile_lengths_ms(labels: Sequence[str]) -> NDArray[np.int64]:
    """Each window's tile length, the ``window_tile_ms`` of the params records.

    Raises:
        ConfigError: Not ``N_WINDOWS`` labels of strictly increasing length.

    """
    lengths = [window_length_ms(label) for label in labels]
    if len(lengths) != N_WINDOWS or any(longer <= shorter for shorter, longer in itertools.pairwise(lengths)):
        raise ConfigError(
            f"features.windows must list {N_WINDOWS} windows, shortest first (default {list(DEFAULT_WINDOWS)}), "
            f"got {list(labels)}",
            key="features.windows",
            expected=f"{N_WINDOWS} windows, shortest first",
            got=list(labels),
        )
    return np.array([length // TILES_PER_WINDOW for length in lengths], dtype=np.int64)


def check_merchant_lag(lag_ms: int, labels: Sequence[str]) -> None:
    """Refuse a merchant lag longer than the rings allow: ``LAG_TILES`` tiles of the shortest window (15 min for 1h).

    Raises:
        ConfigError: The lag is negative or longer.

    """
    longest_ms = int(LAG_TILES * tile_lengths_ms(labels).min())
    if not 0 <= lag_ms <= longest_ms:
        raise ConfigError(
            f"features.merchant_lag_minutes must be within 0..{longest_ms / 60_000:g} "
            f"(a quarter of the shortest window, {labels[0]}), got {lag_ms / 60_000:g}",
            key="features.merchant_lag_minutes",
            expected=f"0..{longest_ms / 60_000:g}",
            got=lag_ms / 60_000,
        )


def ring_of(label: str) -> Any:
    """A compiled ``ring(params)``: which of a params record's rings (``window_tile_ms``) is window ``label``'s."""
    tile_ms = tile_length_ms(label)

    @compiled_inline
    def ring(params: Any) -> int:
        return window_slot(params["window_tile_ms"], tile_ms)

    return ring


@compiled
def window_slot(tile_lengths: Any, tile_ms: int) -> int:
    """The ring whose tiles are ``tile_ms`` long (``-1``: none; config checks that a feature's window is there)."""
    for slot in range(tile_lengths.shape[0]):
        if tile_lengths[slot] == tile_ms:
            return slot
    return -1


@compiled
def tile_of(tile_ms: int, time_ms: int) -> int:
    """The index of the tile ``tile_ms`` long that holds ``time_ms`` (tiles start at the epoch)."""
    return int(time_ms // tile_ms)


@compiled
def add_to_ring(newest_tiles: Any, counts: Any, sums: Any, window: int, tile_ms: int, time_ms: int, value: Any) -> None:
    """Count one event and add ``value`` in ``window``'s tile (``tile_ms`` long) for ``time_ms``.

    The ring holds ``counts.shape[1]`` tiles, the newest seen and those before it. A newer tile
    first clears the tiles it reuses; an event whose tile has left the ring is not counted.
    """
    ring = counts.shape[1]
    tile = tile_of(tile_ms, time_ms)
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
