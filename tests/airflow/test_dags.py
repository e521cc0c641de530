import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kedro.config import OmegaConfigLoader
from kedro.pipeline import Pipeline

from tests.airflow.conftest import BIN, DAG_PIPELINES, DAGS_FOLDER, REPO_ROOT, run_process


def _pipeline(name: str) -> Pipeline:
    module = importlib.import_module(f"streamflow.pipelines.{name}")
    pipeline: Pipeline = module.create_pipeline()
    return pipeline


def _expected_tasks(name: str) -> dict[str, list[str]]:
    pipeline = _pipeline(name)
    return {node.name: sorted(parent.name for parent in pipeline.node_dependencies[node]) for node in pipeline.nodes}


@pytest.fixture(scope="module")
def parsed_dags(airflow_env: dict[str, str]) -> dict[str, Any]:
    """The committed DAG folder as a DagBag sees it (parsed in a child process)."""
    output = run_process(
        [str(BIN / "python"), str(Path(__file__).with_name("inspect_dags.py")), str(DAGS_FOLDER)],
        env=airflow_env,
        cwd=REPO_ROOT,
        timeout_s=120,
    )
    parsed: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return parsed


def test_make_dags_lists_the_scheduled_pipelines() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    listed = re.search(r"^DAG_PIPELINES := (.+)$", makefile, re.MULTILINE)
    assert listed is not None
    assert tuple(listed.group(1).split(",")) == DAG_PIPELINES


def test_committed_dags_are_byte_identical_to_a_fresh_generation(tmp_path: Path, airflow_env: dict[str, str]) -> None:
    run_process(
        [
            str(BIN / "kedro"),
            "airflow",
            "create",
            "--pipelines",
            ",".join(DAG_PIPELINES),
            "--jinja-file",
            "templates/airflow_dag.py.j2",
            "--target-dir",
            str(tmp_path),
        ],
        env=airflow_env,
        cwd=REPO_ROOT,
        timeout_s=180,
    )
    fresh = {path.name: path.read_bytes() for path in sorted(tmp_path.glob("*.py"))}
    committed = {path.name: path.read_bytes() for path in sorted(DAGS_FOLDER.glob("*.py"))}
    assert sorted(fresh) == [f"streamflow_{name}_dag.py" for name in sorted(DAG_PIPELINES)]
    stale = sorted(name for name in fresh if committed.get(name) != fresh[name])
    assert not stale, f"airflow_dags/ is stale for {stale}: run `make dags` and commit the result"
    assert sorted(committed) == sorted(fresh), "airflow_dags/ holds DAGs that `make dags` no longer makes"


def test_every_dag_imports_without_errors(parsed_dags: dict[str, Any]) -> None:
    assert parsed_dags["import_errors"] == {}
    assert sorted(parsed_dags["dags"]) == sorted(f"streamflow_{name}" for name in DAG_PIPELINES)


@pytest.mark.parametrize("name", DAG_PIPELINES)
def test_tasks_are_the_kedro_nodes_with_their_dependencies(parsed_dags: dict[str, Any], name: str) -> None:
    assert parsed_dags["dags"][f"streamflow_{name}"]["tasks"] == _expected_tasks(name)


def test_medallion_aggregates_wait_for_the_fact_table_they_query(parsed_dags: dict[str, Any]) -> None:
    # build_aggregates reads fact_transactions@hourly, written as fact_transactions@table
    upstream = parsed_dags["dags"]["streamflow_medallion"]["tasks"]["build_aggregates_node"]
    assert "build_fact_transactions_node" in upstream


@pytest.mark.parametrize("name", DAG_PIPELINES)
def test_production_settings_and_schedule_from_airflow_yml(parsed_dags: dict[str, Any], name: str) -> None:
    config = yaml.safe_load((REPO_ROOT / "conf/base/airflow.yml").read_text())
    dag = parsed_dags["dags"][f"streamflow_{name}"]
    assert dag["schedule"] == config[name]["schedule"]
    assert (dag["max_active_runs"], dag["catchup"]) == (1, False)
    assert dag["pools"] == ["streamflow"]
    assert dag["retries"] == [2]
    assert dag["backoff"] == [2.0]
    assert dag["max_retry_delay_s"] == [1800.0]


def test_the_failure_callback_logs_dag_run_task_and_kedro_nodes(parsed_dags: dict[str, Any]) -> None:
    logged = parsed_dags["dags"]["streamflow_medallion"]["failure_log"]
    assert len(logged) == 1
    for part in ("dag=streamflow_medallion", "run=manual__probe", "kedro_nodes=['", "try=2", "probe failure"):
        assert part in logged[0]


@pytest.mark.parametrize("name", DAG_PIPELINES)
def test_tasks_exchange_only_persisted_datasets(name: str) -> None:
    catalog = OmegaConfigLoader(str(REPO_ROOT / "conf"), base_env="base", default_run_env="local")["catalog"]
    pipeline = _pipeline(name)
    passed_between_tasks = pipeline.all_outputs() & {
        dataset for node in pipeline.nodes for dataset in node.inputs if not dataset.startswith("params:")
    }
    in_memory = sorted(
        dataset for dataset in passed_between_tasks if dataset not in catalog and not dataset.startswith("_")
    )
    assert not in_memory, f"{name}: tasks would hand over in-memory datasets {in_memory}"
