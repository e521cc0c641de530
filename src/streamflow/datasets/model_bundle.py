"""The portable model bundle as a versioned Kedro dataset (a folder: manifest.json, forest.npz, checksums.sha256)."""

from __future__ import annotations

import glob
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version

from streamflow.core.forest import MANIFEST_FILE, ModelBundle


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
        """The bundle at the load path, verified (every file's checksum, the manifest's types, feature order)."""
        return ModelBundle.load(Path(self._get_load_path()))

    def save(self, data: ModelBundle) -> None:
        """Write the arrays (no pickle), the manifest and their checksums into the save path."""
        data.save(Path(self._get_save_path()))

    def _exists(self) -> bool:
        try:
            path = Path(self._get_load_path())
        except DatasetError:
            return False
        return (path / MANIFEST_FILE).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
