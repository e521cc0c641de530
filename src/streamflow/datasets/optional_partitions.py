"""A ``PartitionedDataset`` for outputs that may not exist yet (e.g. the stream's dead letters)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kedro_datasets.partitions import PartitionedDataset


class OptionalPartitionedDataset(PartitionedDataset):  # type: ignore[misc]
    """Loads an empty mapping when the folder is missing or holds no partition.

    ``PartitionedDataset`` raises on an empty folder; for a stream output that has not
    written anything yet, "no partitions" means "no records", not an error.

    Example::

        stream_dead_letters:
          type: streamflow.datasets.OptionalPartitionedDataset
          path: data/07_model_output/stream/dlq
          dataset: {type: pandas.JSONDataset, load_args: {lines: true}}
          filename_suffix: .jsonl
    """

    def load(self) -> dict[str, Callable[[], Any]]:
        """The partitions' load functions by partition id; empty when there are none."""
        self._invalidate_caches()
        if not self._list_partitions():
            return {}
        partitions: dict[str, Callable[[], Any]] = super().load()
        return partitions
