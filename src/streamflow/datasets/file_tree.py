"""Files and folders under a root, listed on load and deleted on save (retention pruning)."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from kedro.io.core import AbstractDataset, DatasetError

INVENTORY_COLUMNS: tuple[str, ...] = ("path", "modified_at", "size_bytes")


class FileTreeDataset(AbstractDataset[list[str], pd.DataFrame]):
    """An inventory of the entries matching ``pattern`` under ``path``; saving deletes entries.

    ``load()`` returns one row per matching file or folder: ``path`` (POSIX, relative to
    the root), ``modified_at`` (UTC) and ``size_bytes`` (summed over a folder's files).
    ``save(paths)`` deletes those entries; a path that leaves the root is refused and a
    path already gone is skipped, so a repeated save is harmless.

    Example::

        model_versions:
          type: streamflow.datasets.FileTreeDataset
          path: data/06_models
          pattern: "*/*"           # <dataset>/<version>
    """

    def __init__(self, *, path: str, pattern: str, metadata: dict[str, Any] | None = None) -> None:
        """Point at a local folder (it need not exist) and a glob pattern relative to it."""
        self._root = Path(path)
        self._pattern = pattern
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        """The matching entries, sorted by path (empty when the root does not exist)."""
        entries = sorted(self._root.glob(self._pattern)) if self._root.is_dir() else []
        rows = [
            {
                "path": entry.relative_to(self._root).as_posix(),
                "modified_at": pd.Timestamp(entry.stat().st_mtime, unit="s", tz="UTC"),
                "size_bytes": _size(entry),
            }
            for entry in entries
            if not entry.name.startswith(".")
        ]
        frame = pd.DataFrame(rows, columns=list(INVENTORY_COLUMNS))
        frame["modified_at"] = pd.to_datetime(frame["modified_at"], utc=True)
        return frame.astype({"path": object, "size_bytes": "int64"})

    def save(self, data: list[str]) -> None:
        """Delete each listed entry (a file, or a folder with its contents)."""
        root = self._root.resolve()
        for relative in data:
            target = (root / PurePosixPath(relative)).resolve()
            if target == root or root not in target.parents:
                raise DatasetError(
                    f"Refusing to delete '{relative}': it is not inside '{root}'. "
                    "Deletion paths must be relative to the dataset's root."
                )
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._root), "pattern": self._pattern}


def _size(entry: Path) -> int:
    if entry.is_file():
        return entry.stat().st_size
    return sum(child.stat().st_size for child in entry.rglob("*") if child.is_file())
