"""Nodes of the ``quality`` pipeline."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pandas as pd

from streamflow.medallion import quality


def check_quality(
    silver_transactions: pd.DataFrame,
    silver_report: dict[str, Any],
    gold_summary: dict[str, Any],
    checks: dict[str, Any],
    as_of: str | None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Run the configured checks; report them with the layer counts and what freshness was measured against.

    Args:
        silver_transactions: This batch's silver rows.
        silver_report: Row counts of bronze, silver, quarantine and duplicates.
        gold_summary: Row counts of the gold tables.
        checks: The ``quality.checks`` parameters (bounds and blocking flag per check).
        as_of: ``quality.as_of``: the time freshness is measured against (``None``: the ingestion time).

    Returns:
        The quality report (JSON) and the rows for ``quality_check_runs``.

    """
    results = quality.run_checks(silver_transactions, silver_report, quality.parse_thresholds(checks), as_of)
    _, freshness_against = quality.freshness_reference(silver_report, as_of)
    checked_at = pd.Timestamp.now(tz="UTC")
    run_id = checked_at.strftime("%Y%m%dT%H%M%S.%fZ")
    report = {
        "run_id": run_id,
        "checked_at": checked_at.isoformat(),
        "verdict": quality.verdict(results),
        "layers": {
            "bronze_rows": silver_report["bronze_rows"],
            "silver_rows": silver_report["silver_rows"],
            "quarantined_rows": silver_report["quarantined_rows"],
            "duplicate_rows": silver_report["duplicate_rows"],
            "fact_transactions_rows": gold_summary["fact_transactions_rows"],
        },
        "quarantined_by_code": silver_report["quarantined_by_code"],
        "landing": silver_report.get("landing", {}),
        "freshness_measured_against": freshness_against,
        "checks": [
            {"name": r.name, "value": r.value, "passed": r.passed, "message": r.message, **asdict(r.threshold)}
            for r in results
        ],
    }
    return report, quality.results_table(results, run_id=run_id, checked_at=checked_at)


def enforce_quality_gate(quality_report: dict[str, Any]) -> None:
    """Fail the run if a blocking check failed (after its report was saved).

    Raises:
        QualityGateError: Naming each failed blocking check, its figure and its bounds.

    """
    quality.enforce(quality_report["checks"])
