"""A ``PartitionedDataset`` for inputs that may not exist yet (the stream's outputs before it has run)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kedro.io.core import DatasetError
from kedro_datasets.partitions import PartitionedDataset

logger = logging.getLogger(__name__)


class MissingInputError(DatasetError):
    """A required input's location is missing or not reachable."""

    code = "required_input_missing"


class OptionalPartitionedDataset(PartitionedDataset):  # type: ignore[misc]
    """Partitions that may legitimately be none: loaded as no records and said so; a required location must exist.

    ``PartitionedDataset`` raises on an empty folder. Here a folder with no partitions (the stream
    ran and wrote no alert in the period) loads as no records, with a warning, and the run's
    summary lists the input as empty (``RunSummaryHooks``). A folder that does not exist, or
    cannot be reached, is allowed only with ``required: false`` (the stream's outputs on a machine
    where it has not run yet); with ``required: true`` (production, where the stream always runs)
    it is a :class:`MissingInputError` that names the location: never an empty read.

    Example::

        stream_dead_letters:
          type: streamflow.datasets.OptionalPartitionedDataset
          path: data/07_model_output/stream/dlq
          dataset: {type: pandas.JSONDataset, load_args: {lines: true}}
          filename_suffix: .jsonl
          required: false
    """

    def __init__(self, *, required: bool = False, **kwargs: Any) -> None:
        """``PartitionedDataset``'s arguments, and whether an input without partitions is an error."""
        super().__init__(**kwargs)
        self.required = required
        self.loaded_empty = False

    def _location_exists(self) -> bool:
        try:
            return bool(self._filesystem.isdir(self._normalized_path))
        except OSError:
            return False

    @property
    def location(self) -> str:
        """Where the partitions are looked for."""
        return str(self._path)

    def load(self) -> dict[str, Callable[[], Any]]:
        """The partitions' load functions by partition id; empty when there are none and that is allowed."""
        self._invalidate_caches()
        if self.required and not self._location_exists():
            raise MissingInputError(
                f"[{MissingInputError.code}] {self._path} does not exist or cannot be reached: this input is "
                "required here (required: true); check that its producer runs and writes there, and the location"
            )
        self.loaded_empty = not self._list_partitions()
        if self.loaded_empty:
            logger.warning("No partitions at %s: loading no records", self._path)
            return {}
        partitions: dict[str, Callable[[], Any]] = super().load()
        return partitions
