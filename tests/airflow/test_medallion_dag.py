import json
import subprocess
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from streamflow.devtools.scratch import make_scratch_project
from tests.airflow.conftest import BIN, REPO_ROOT, run_process

GOLD_TABLES = ("fact_transactions", "dim_customer", "dim_store", "dim_product", "agg_hourly_sales", "agg_daily_fraud")


def test_airflow_runs_the_medallion_dag_end_to_end_into_gold(tmp_path: Path, airflow_env: dict[str, str]) -> None:
    # Airflow's metadata database migrates while the sample is generated
    migrate = subprocess.Popen(
        [str(BIN / "airflow"), "db", "migrate"],
        env=airflow_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        project = make_scratch_project(REPO_ROOT, tmp_path / "project")
        bootstrap_project(project)
        with KedroSession.create(project_path=project, runtime_params={"generate": {"n_events": 2000}}) as session:
            session.run(pipeline_names=["generate"])
        migrate_output, _ = migrate.communicate(timeout=180)
    finally:
        if migrate.poll() is None:
            migrate.kill()
            migrate.wait()
    assert migrate.returncode == 0, migrate_output[-4000:]

    # run from elsewhere: the DAG finds the project through STREAMFLOW_PROJECT_PATH
    output = run_process(
        [str(BIN / "airflow"), "dags", "test", "streamflow_medallion"],
        env={**airflow_env, "STREAMFLOW_PROJECT_PATH": str(project)},
        cwd=tmp_path,
        timeout_s=300,
    )
    assert "state=success" in output, output[-4000:]

    silver = json.loads((project / "data/08_reporting/silver_report.json").read_text())
    assert silver["bronze_rows"] >= 2000
    engine = sa.create_engine(f"sqlite:///{project / 'data/03_primary/gold.sqlite'}")
    with engine.connect() as connection:
        counts = {
            table: int(pd.read_sql(f"SELECT COUNT(*) AS n FROM {table}", connection)["n"].iloc[0])
            for table in (*GOLD_TABLES, "quality_check_runs")
        }
    engine.dispose()
    assert counts["fact_transactions"] == silver["silver_rows"] >= 1900
    assert all(counts[table] > 0 for table in GOLD_TABLES), counts
    assert counts["quality_check_runs"] == 6
    assert not (tmp_path / "data").exists()  # nothing written relative to Airflow's working directory
