"""Fixtures shared by the pipeline tests: a throwaway copy of the Kedro project."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_LAYERS = (
    "01_raw",
    "02_intermediate",
    "03_primary",
    "04_feature",
    "05_model_input",
    "06_models",
    "07_model_output",
    "08_reporting",
)


@pytest.fixture
def kedro_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's config in a temp folder, made the working directory.

    The installed ``streamflow`` package provides the code; runs read and write only
    under the temp folder's ``data/``.
    """
    project = tmp_path / "project"
    project.mkdir()
    shutil.copytree(REPO_ROOT / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "conf" / "local").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(REPO_ROOT / name, project / name)
    (project / "src").mkdir()  # the installed package provides the code
    for layer in DATA_LAYERS:
        (project / "data" / layer).mkdir(parents=True)
    monkeypatch.chdir(project)
    return project
