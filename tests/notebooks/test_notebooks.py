"""Every notebook in ``notebooks/`` runs headless, top to bottom, on a small generated run.

The scratch project runs the default loop (generate, medallion, model) on 10,000 events, then
lands the stream's alerts as the Flink job's file sink lays them out, computed by the job's own
records from the core's replay (``tests.factories.core_decisions``, in landing order).
Each notebook runs in a fresh kernel from the project's ``notebooks/`` folder, so
``%load_ext kedro.ipython`` finds the project and reads its catalog.
"""

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from flink_app.config import load_config
from flink_app.records import to_json
from kedro.io.core import Version
from nbclient import NotebookClient

from streamflow.core import EventError, parse_event
from streamflow.datasets import ModelBundleDataset
from streamflow.devtools.scratch import dispose_cached_sql_engines, make_scratch_project
from tests.conftest import REPO_ROOT
from tests.factories import core_decisions
from tests.pipelines.test_medallion_pipeline import _run

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
SMALL = {"generate": {"n_events": 20_000, "n_stores": 100}}
CELL_TIMEOUT_S = 300
STREAM_ALERTS = Path("data/07_model_output/stream/alerts")
PLOTS = {"01_data_exploration": 3, "02_model_research": 5, "03_stream_alerts": 1}  # figures each one draws


def _land_stream_alerts(project: Path) -> int:
    """Score the landing zone like the stream and write its alert files; returns the alert count."""
    config = load_config(project / "conf")
    bundle = ModelBundleDataset(
        filepath=str(project / "data/06_models/model_bundle"), version=Version(None, None)
    ).load()
    events = []
    for path in sorted((project / "data/01_raw/transactions").glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            try:
                events.append(parse_event(line, config.contract))
            except EventError:
                continue  # the stream's dead-letter path
    decisions = core_decisions(events, config.rules, bundle, rules_only_threshold=config.job.rules_only_threshold)
    alerts = [to_json(alert) for _, alert in decisions if alert is not None]
    bucket = project / STREAM_ALERTS / "2026-01-01--00"
    bucket.mkdir(parents=True)
    (bucket / f"alerts-{uuid.uuid4()}-0.jsonl").write_text("\n".join(alerts) + "\n", encoding="utf-8")
    return len(alerts)


@pytest.fixture(scope="module")
def research_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A scratch project after ``kedro run`` and a stream run, with a copy of the notebooks."""
    project = make_scratch_project(REPO_ROOT, tmp_path_factory.mktemp("notebooks") / "project")
    previous = Path.cwd()
    os.chdir(project)
    dispose_cached_sql_engines()
    try:
        _run(project, pipeline="__default__", params=SMALL)
        assert _land_stream_alerts(project) > 0
        shutil.copytree(NOTEBOOK_DIR, project / "notebooks")
        yield project
    finally:
        dispose_cached_sql_engines()
        os.chdir(previous)


def _outputs_text(notebook: nbformat.NotebookNode) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def _images(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))


def test_the_research_notebooks_are_there() -> None:
    assert [path.name for path in NOTEBOOKS] == [
        "01_data_exploration.ipynb",
        "02_model_research.ipynb",
        "03_stream_alerts.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_committed_notebooks_carry_no_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code_cells)


def test_git_strips_notebook_outputs_with_nbstripout() -> None:
    attributes = (REPO_ROOT / ".gitattributes").read_text(encoding="utf-8").splitlines()
    assert "*.ipynb filter=nbstripout" in attributes


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_headless_without_errors(research_project: Path, path: Path) -> None:
    folder = research_project / "notebooks"
    notebook = nbformat.read(folder / path.name, as_version=4)
    NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()  # raises CellExecutionError on the first failing cell

    text = _outputs_text(notebook)
    assert "Traceback" not in text
    assert _images(notebook) == PLOTS[path.stem]
    if path.stem == "03_stream_alerts":
        assert "No stream alerts yet" not in text
        assert "alerts with a known outcome from 1 files" in text
