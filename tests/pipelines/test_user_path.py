"""A team's own history and outcomes: land them, `make train`, get the evaluation; the demo never overwrites them.

Done as the README says, in a temp folder holding the project (its Makefile, config and this
checkout's environment): events into data/01_raw/transactions/, outcomes into data/01_raw/labels/.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streamflow.core import ContractConfig
from streamflow.core.forest import ModelBundle
from streamflow.devtools.scratch import make_scratch_project
from streamflow.generator import GeneratorConfig, generate_stream
from tests.conftest import REPO_ROOT

HEADER = "transaction_id,is_fraud,labelled_at,source,customer_id,store_id,event_time"


def _project_with_make(folder: Path) -> Path:
    """A project folder as a team's clone would be: its config and the Makefile (the environment is this checkout's)."""
    project = make_scratch_project(REPO_ROOT, folder)
    shutil.copy(REPO_ROOT / "Makefile", project / "Makefile")
    return project


def _land_history(project: Path) -> None:
    """Six weeks of someone else's events and their outcomes, as a team would export them."""
    config = GeneratorConfig.from_dict({"n_events": 20_000, "days": 42, "n_stores": 100, "seed": 11}, [])
    history = generate_stream(config, ContractConfig())
    events = project / "data/01_raw/transactions"
    events.mkdir(parents=True, exist_ok=True)
    for day, text in history.partitions.items():
        (events / f"export-{day}.jsonl").write_text(text, encoding="utf-8")
    labels = project / "data/01_raw/labels"
    labels.mkdir(parents=True, exist_ok=True)
    outcomes = history.outcomes.drop(columns="pattern")  # a team's outcomes need not carry a pattern
    outcomes.to_csv(labels / "chargebacks.csv", index=False)
    assert (labels / "chargebacks.csv").read_text().splitlines()[0] == HEADER


def _make(project: Path, target: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    # The environment is this checkout's, set up already (the README's first step): BIN points at it
    # and -o keeps make from setting one up here (it would never touch this checkout's anyway).
    bin_dir = f"BIN={Path(sys.executable).parent}"
    return subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.synced", bin_dir, target],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    project = _project_with_make(tmp_path_factory.mktemp("team") / "project")
    _land_history(project)
    return project, _make(project, "train")


def test_make_train_runs_on_the_landed_history_and_prints_the_evaluation(
    trained: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    project, result = trained
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Outcomes" in output
    assert "under the delay protocol" in output
    table = output[output.index("scorer") :]
    assert all(name in table for name in ("rules_only", "forest", "blend", "AUC ROC", "AP", "CP@100"))
    assert "Generated event stream" not in output  # never generates
    assert sorted(path.name for path in (project / "data/01_raw/labels").iterdir()) == ["chargebacks.csv"]
    assert list((project / "data/06_models/model_bundle").glob("*/model_bundle/manifest.json"))


def test_the_stream_scores_the_landed_events_with_their_outcomes_and_the_trained_bundle(
    trained: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """The README's next step: ``python -m flink_app score --input ... --labels ... --model latest``."""
    project, result = trained
    assert result.returncode == 0
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    environment["PYTHONPATH"] = str(REPO_ROOT)  # the job's code is this checkout's, as the environment is
    command = [sys.executable, "-m", "flink_app", "score", "--conf-dir", str(project / "conf")]
    command += ["--input", "data/01_raw/transactions", "--labels", "data/01_raw/labels"]
    command += ["--output", "data/08_stream_output", "--model", "latest"]
    scored = subprocess.run(
        command, cwd=project, env=environment, capture_output=True, text=True, timeout=600, check=False
    )
    assert scored.returncode == 0, scored.stdout[-3000:] + scored.stderr[-3000:]
    (bundle,) = (project / "data/06_models/model_bundle").glob("*/model_bundle")  # make train made one
    champion = ModelBundle.load(bundle).manifest.champion
    assert champion is not None
    assert f"Scoring with {champion.model_version}" in scored.stdout
    assert "every event scored or dead-lettered" in scored.stdout
    outcomes = len((project / "data/01_raw/labels/chargebacks.csv").read_text().splitlines()) - 1
    assert f"outcomes in      {outcomes:,}" in scored.stdout
    assert "    dead-lettered  0 (none)" in scored.stdout  # the team's outcomes all follow the contract
    assert "(the model reads none)" in scored.stdout  # its features read no outcome: checked, counted


def test_the_demo_refuses_to_write_over_a_teams_landing_zone(
    trained: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    project, _ = trained
    before = sorted(path.name for path in (project / "data/01_raw/transactions").iterdir())
    result = _make(project, "run")
    assert result.returncode != 0
    assert "[landing_zone_not_demo]" in result.stderr
    assert "make train" in result.stderr
    assert sorted(path.name for path in (project / "data/01_raw/transactions").iterdir()) == before


def test_gold_never_mixes_the_demos_rows_with_a_teams(trained: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    project, _ = trained
    for folder in ("transactions", "labels"):  # the team moves its files away and starts the demo
        shutil.rmtree(project / "data/01_raw" / folder)
    result = _make(project, "run")
    assert result.returncode != 0
    assert "[gold_origin_mismatch]" in result.stderr
    assert "holds the user's rows" in result.stderr
    assert not (project / "data/01_raw/transactions").exists()  # refused before generating
