"""Counts a scoring task keeps in Python and adds to Flink's metrics in batches."""

from __future__ import annotations


class MetricCounts:
    """Counts since the last drain, by name and by dead-letter error code (the totals too)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.values = dict.fromkeys(names, 0)
        self.codes: dict[str, int] = {}
        self._drained = dict.fromkeys(names, 0)
        self._drained_codes: dict[str, int] = {}

    def add(self, name: str) -> None:
        """Count one ``name``."""
        self.values[name] += 1

    def add_code(self, code: str) -> None:
        """Count one dead letter with ``code``."""
        self.codes[code] = self.codes.get(code, 0) + 1

    def drain(self) -> dict[str, int]:
        """What each name gained since the last drain (names that gained nothing left out)."""
        return _deltas(self.values, self._drained)

    def drain_codes(self) -> dict[str, int]:
        """What each error code gained since the last drain."""
        return _deltas(self.codes, self._drained_codes)


def _deltas(totals: dict[str, int], drained: dict[str, int]) -> dict[str, int]:
    deltas = {name: total - drained.get(name, 0) for name, total in totals.items()}
    drained.update(totals)
    return {name: delta for name, delta in deltas.items() if delta}
