import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

SMALL_GENERATE = {"n_events": 3_000, "days": 5, "n_stores": 60}
SMALL_RUN = {"generate": SMALL_GENERATE}


def test_generate_pipeline_writes_daily_jsonl_labels_and_manifest(kedro_project: Path) -> None:
    bootstrap_project(kedro_project)
    with KedroSession.create(project_path=kedro_project, runtime_params=SMALL_RUN) as session:
        session.run(pipeline_names=["generate"])

    files = sorted((kedro_project / "data/01_raw/transactions").glob("*.jsonl"))
    manifest = json.loads((kedro_project / "data/08_reporting/generation_manifest.json").read_text())
    assert [path.stem for path in files] == manifest["partitions"]
    lines = sum(path.read_text(encoding="utf-8").count("\n") for path in files)
    assert lines == manifest["total_lines"] == 3_000 + 15
    truth = pd.read_parquet(kedro_project / "data/01_raw/generator_truth.parquet")
    assert len(truth) == 3_000
    assert truth["is_fraud"].sum() == manifest["fraud_events"]
    outcomes = pd.read_csv(kedro_project / "data/01_raw/labels/outcomes.csv", dtype=str)
    assert (
        ",".join(outcomes.columns[:7]) == "transaction_id,is_fraud,labelled_at,source,customer_id,store_id,event_time"
    )
    assert len(outcomes) == manifest["outcomes"]
    demo = json.loads((kedro_project / "data/01_raw/_demo_manifest.json").read_text())
    assert sorted(demo["files"]) == sorted(
        [*(f"transactions/{day}.jsonl" for day in manifest["partitions"]), "labels/outcomes.csv"]
    )


def test_rerun_with_another_date_range_replaces_the_synthetic_landing_zone(kedro_project: Path) -> None:
    bootstrap_project(kedro_project)
    for start in ("2026-01-01", "2026-03-01"):
        with KedroSession.create(
            project_path=kedro_project, runtime_params={"generate": {**SMALL_GENERATE, "start_date": start}}
        ) as session:
            session.run(pipeline_names=["generate"])
    days = sorted(path.stem for path in (kedro_project / "data/01_raw/transactions").glob("*.jsonl"))
    assert days[0] >= "2026-02-28"
    assert len(days) <= 7


def _kedro(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in {"KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK"}}
    kedro = Path(sys.executable).parent / "kedro"
    return subprocess.run(
        [str(kedro), *args], cwd=project, env=env, capture_output=True, text=True, check=False, timeout=300
    )


def test_kedro_cli_lists_the_pipelines(kedro_project: Path) -> None:
    result = _kedro(kedro_project, "registry", "list")
    assert result.returncode == 0, result.stderr
    assert "generate" in result.stdout
    assert "__default__" in result.stdout


def test_kedro_run_is_offline_clean_and_prints_the_summary(kedro_project: Path) -> None:
    params = ",".join(f"generate.{key}={value}" for key, value in SMALL_GENERATE.items())
    result = _kedro(kedro_project, "run", "--pipelines", "generate", "--params", params)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Generated event stream" in output
    assert "fraud" in output
    assert "malformed" in output
    for noise in ("telemetry", "heap", "ConnectionError", "Max retries", "NewConnectionError"):
        assert noise.lower() not in output.lower(), output
