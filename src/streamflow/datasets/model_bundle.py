"""The portable model bundle as a versioned Kedro dataset (a folder: manifest.json + forest.npz)."""

from __future__ import annotations

import glob
import json
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version

from streamflow.core.forest import ARRAYS_FILE, MANIFEST_FILE, ModelBundle


class ModelBundleDataset(AbstractVersionedDataset[ModelBundle, ModelBundle]):
    """Saves and loads a :class:`ModelBundle`; with ``versioned: true`` the latest loads by default.

    Example::

        model_bundle:
          type: streamflow.datasets.ModelBundleDataset
          filepath: data/06_models/model_bundle
          versioned: true
    """

    def __init__(
        self, *, filepath: str, version: Version | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
        """Point at a local bundle folder (versions are subfolders when versioned)."""
        path = Path(filepath)
        super().__init__(
            filepath=PurePosixPath(path.as_posix()),
            version=version,
            exists_function=lambda p: (Path(p) / MANIFEST_FILE).is_file(),
            glob_function=glob.glob,
        )
        self.metadata = metadata

    def load(self) -> ModelBundle:
        """The bundle at the load path, verified (checksum and feature order)."""
        return ModelBundle.load(Path(self._get_load_path()))

    def save(self, data: ModelBundle) -> None:
        """Write the manifest and the arrays (no pickle) into the save path."""
        folder = Path(self._get_save_path())
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / ARRAYS_FILE, **data.arrays)
        (folder / MANIFEST_FILE).write_text(json.dumps(data.manifest.to_dict(), indent=2), encoding="utf-8")

    def _exists(self) -> bool:
        try:
            path = Path(self._get_load_path())
        except DatasetError:
            return False
        return (path / MANIFEST_FILE).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
