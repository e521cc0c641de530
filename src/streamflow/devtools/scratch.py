"""Throwaway copies of the Kedro project for benchmarks and tests.

A scratch project shares the installed ``streamflow`` package and a copy of ``conf/``
(without ``conf/local``), and writes only to its own ``data/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kedro_datasets.pandas import SQLQueryDataset, SQLTableDataset

DATA_LAYERS: tuple[str, ...] = (
    "01_raw",
    "02_intermediate",
    "03_primary",
    "04_feature",
    "05_model_input",
    "06_models",
    "07_model_output",
    "08_reporting",
)
PROJECT_FILES: tuple[str, ...] = ("pyproject.toml", ".telemetry")


def make_scratch_project(source: Path, destination: Path) -> Path:
    """Copy the project's configuration from ``source`` into a new ``destination``.

    Args:
        source: The project root (holds ``pyproject.toml`` and ``conf/``).
        destination: A folder that does not exist yet.

    Returns:
        ``destination``, ready for ``bootstrap_project`` and ``KedroSession.create``.

    """
    destination.mkdir(parents=True)
    shutil.copytree(source / "conf", destination / "conf", ignore=shutil.ignore_patterns("local"))
    (destination / "conf" / "local").mkdir()
    for name in PROJECT_FILES:
        shutil.copy(source / name, destination / name)
    (destination / "src").mkdir()  # Kedro wants it; the installed package provides the code
    for layer in DATA_LAYERS:
        (destination / "data" / layer).mkdir(parents=True)
    return destination


def dispose_cached_sql_engines() -> None:
    """Drop the SQL engines kedro-datasets caches per URL for the whole process.

    A relative SQLite URL (the default gold database) would otherwise keep pointing at
    the previous project's file when one process runs several scratch projects.
    """
    for dataset in (SQLQueryDataset, SQLTableDataset):
        for engine in dataset.engines.values():
            engine.dispose()
        dataset.engines.clear()
