"""Real Airflow 3 in subprocesses: a throwaway AIRFLOW_HOME with SQLite metadata, no examples.

Airflow runs in child processes so its global configuration and logging never enter the
pytest process; each child is waited for (and killed on timeout) by the PID started here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAGS_FOLDER = REPO_ROOT / "airflow_dags"
DAG_PIPELINES: tuple[str, ...] = ("medallion", "quality", "model", "dlq_monitor", "maintenance")


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of an isolated Airflow: its home, SQLite metadata and the project's DAG folder."""
    home = tmp_path_factory.mktemp("airflow_home")
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "KEDRO_DISABLE_TELEMETRY": "1",
        "DO_NOT_TRACK": "1",
    }


def run_process(command: list[str], *, env: dict[str, str], cwd: Path, timeout_s: float) -> str:
    """Run a command to completion and return its output; fail the test with it on error."""
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"{command[:3]} ran past {timeout_s} s:\n{output[-4000:]}")
    if process.returncode != 0:
        pytest.fail(f"{command[:3]} exited {process.returncode}:\n{output[-4000:]}")
    return output
