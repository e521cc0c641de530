"""Nodes of the ``maintenance`` pipeline.

Deletions and database statements are outputs: the catalog's ``FileTreeDataset`` and
``DatabaseMaintenanceDataset`` carry them out on save. In dry-run mode the nodes save
nothing to carry out and report what they would have done.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from streamflow.operations import housekeeping, retention
from streamflow.operations.clock import as_of_time

logger = logging.getLogger(__name__)


def prune_old_entries(
    landing_inventory: pd.DataFrame,
    stream_inventory: pd.DataFrame,
    model_versions: pd.DataFrame,
    report_versions: pd.DataFrame,
    retention_params: dict[str, Any],
    dry_run: bool,
    as_of: str | None,
) -> tuple[list[str], list[str], list[str], list[str], dict[str, Any]]:
    """Plan the retention of landed files, stream buckets and model and report versions.

    Args:
        landing_inventory: Files of the raw landing zone.
        stream_inventory: Hourly buckets of the stream's outputs.
        model_versions: ``<dataset>/<version>`` folders under ``data/06_models``.
        report_versions: ``<dataset>/<version>`` folders under ``data/08_reporting``.
        retention_params: The ``maintenance.retention`` parameters.
        dry_run: Plan and report only; delete nothing.
        as_of: Reference time (ISO 8601); ``None`` for now.

    Returns:
        The paths to delete for each of the four inventories (empty in dry-run) and the report.

    Raises:
        NewestVersionError: If a plan would delete a dataset's newest version.

    """
    config = retention.parse_config(retention_params)
    now = as_of_time(as_of)
    plans = {
        "landing": (
            retention.plan_landing(landing_inventory, as_of=now, max_age_days=config.raw_days),
            config.raw_days,
        ),
        "stream": (
            retention.plan_stream_buckets(stream_inventory, as_of=now, max_age_days=config.stream_days),
            config.stream_days,
        ),
        "model_versions": (retention.plan_versions(model_versions, as_of=now, config=config), config.version_days),
        "report_versions": (retention.plan_versions(report_versions, as_of=now, config=config), config.version_days),
    }
    report = {
        "as_of": now.isoformat(),
        "dry_run": dry_run,
        "keep_latest": config.keep_latest,
        **{name: retention.plan_summary(plan, max_age_days=days) for name, (plan, days) in plans.items()},
    }
    logger.info(
        "Retention (%s): %s",
        "dry run, nothing deleted" if dry_run else "deleting",
        {name: len(plan) for name, (plan, _) in plans.items()},
    )
    landing, stream, models, reports = ([] if dry_run else plan["path"].tolist() for plan, _ in plans.values())
    return landing, stream, models, reports, report


def housekeep_database(
    database: dict[str, Any], database_params: dict[str, Any], dry_run: bool
) -> tuple[list[str], dict[str, Any]]:
    """Plan VACUUM / ANALYZE for the gold database.

    Args:
        database: The database's dialect, URL (password hidden) and size.
        database_params: The ``maintenance.database`` parameters.
        dry_run: Plan and report only; run nothing.

    Returns:
        The statements to run (empty in dry-run) and the report.

    """
    planned = housekeeping.statements(database["dialect"], housekeeping.parse_config(database_params))
    report = {**database, "dry_run": dry_run, "statements": planned}
    logger.info("Database housekeeping (%s): %s", "dry run" if dry_run else "running", planned)
    return ([] if dry_run else planned), report
