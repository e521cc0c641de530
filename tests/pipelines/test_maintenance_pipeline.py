import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from streamflow.operations.retention import RetentionError

AS_OF = "2026-06-30T00:00:00Z"
BUNDLES = [f"2026-0{month}-01T00.00.00.000Z" for month in range(1, 6)]  # all past 30 days


def _run(project: Path, params: dict[str, Any]) -> dict[str, Any]:
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params={"maintenance": {"as_of": AS_OF, **params}}) as s:
        s.run(pipeline_names=["maintenance"])
    return {
        name: json.loads((project / f"data/08_reporting/{name}.json").read_text())
        for name in ("retention_report", "database_housekeeping_report")
    }


def _populate(project: Path) -> None:
    landing = project / "data/01_raw/transactions"
    landing.mkdir(parents=True, exist_ok=True)
    for day in ("2026-01-01", "2026-06-29"):
        (landing / f"{day}.jsonl").write_text("{}\n")
    for version in BUNDLES:
        folder = project / "data/06_models/model_bundle" / version
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text("{}")
    (project / "data/08_reporting/model_metrics.json/2026-01-01T00.00.00.000Z").mkdir(parents=True)
    (project / "data/07_model_output/stream/alerts/2026-06-01--00").mkdir(parents=True)
    engine = sa.create_engine("sqlite:///data/03_primary/gold.sqlite")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x TEXT)")
        connection.execute(sa.text("INSERT INTO t VALUES (:x)"), [{"x": "x" * 500} for _ in range(500)])
        connection.exec_driver_sql("DELETE FROM t")
    engine.dispose()


def _bundles(project: Path) -> list[str]:
    return sorted(path.name for path in (project / "data/06_models/model_bundle").iterdir())


def test_dry_run_is_the_default_and_deletes_nothing(kedro_project: Path) -> None:
    _populate(kedro_project)
    reports = _run(kedro_project, {})
    retention = reports["retention_report"]
    assert retention["dry_run"] is True
    assert retention["landing"]["paths"] == ["2026-01-01.jsonl"]
    assert retention["model_versions"]["paths"] == [f"model_bundle/{v}" for v in BUNDLES[:2]]
    assert retention["stream"]["paths"] == ["alerts/2026-06-01--00"]
    assert retention["report_versions"]["paths"] == []  # the only metrics version is the newest
    assert _bundles(kedro_project) == BUNDLES
    assert (kedro_project / "data/01_raw/transactions/2026-01-01.jsonl").exists()
    database = reports["database_housekeeping_report"]
    assert database["statements"] == ["VACUUM", "ANALYZE"]
    assert database["free_bytes"] > 0


def test_a_real_run_prunes_past_retention_keeps_the_newest_and_vacuums(kedro_project: Path) -> None:
    _populate(kedro_project)
    _run(kedro_project, {"dry_run": False, "retention": {"keep_latest": 1}})
    assert _bundles(kedro_project) == BUNDLES[-1:]
    assert sorted(p.name for p in (kedro_project / "data/01_raw/transactions").iterdir()) == ["2026-06-29.jsonl"]
    assert not (kedro_project / "data/07_model_output/stream/alerts/2026-06-01--00").exists()
    assert (kedro_project / "data/08_reporting/model_metrics.json/2026-01-01T00.00.00.000Z").exists()
    after = _run(kedro_project, {"dry_run": True})["database_housekeeping_report"]
    assert after["free_bytes"] == 0


def test_keep_latest_zero_is_refused_before_anything_is_deleted(kedro_project: Path) -> None:
    _populate(kedro_project)
    with pytest.raises(RetentionError, match="keep_latest must be at least 1"):
        _run(kedro_project, {"dry_run": False, "retention": {"keep_latest": 0}})
    assert _bundles(kedro_project) == BUNDLES
