"""Data quality checks on a silver batch, with thresholds from ``parameters_quality.yml``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from streamflow.core.config import build_dataclass
from streamflow.core.errors import ConfigError


class QualityGateError(RuntimeError):
    """A blocking quality check failed; the message names the check, figure and threshold."""


@dataclass(frozen=True, slots=True)
class Threshold:
    """Bounds of one check; ``blocking`` fails the run when breached."""

    min: float | None = None
    max: float | None = None
    blocking: bool = False


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's figure against its bounds."""

    name: str
    value: float | None
    threshold: Threshold
    passed: bool
    message: str


def parse_thresholds(block: dict[str, Any]) -> dict[str, Threshold]:
    """Thresholds per check name from the ``quality.checks`` block."""
    unknown = sorted(set(block) - set(METRICS))
    if unknown:
        raise ConfigError(f"quality.checks: unknown checks {unknown}; known: {sorted(METRICS)}")
    return {name: build_dataclass(Threshold, bounds, path=f"quality.checks.{name}") for name, bounds in block.items()}


def freshness_reference(report: dict[str, Any], as_of: str | None) -> tuple[pd.Timestamp | None, str]:
    """The time freshness is measured against, and what it is.

    ``quality.as_of`` when set (a backfill of history sets the history's end, so months-old
    history is not stale for being history); otherwise the batch's ingestion time (a live feed).
    """
    if as_of:
        return pd.Timestamp(as_of), f"quality.as_of {pd.Timestamp(as_of).isoformat()}"
    ingested_at = report.get("ingested_at")
    if ingested_at:
        return pd.Timestamp(ingested_at), f"the ingestion time {pd.Timestamp(ingested_at).isoformat()}"
    return None, "no ingestion time (no rows)"


def quality_metrics(silver: pd.DataFrame, report: dict[str, Any], as_of: str | None = None) -> dict[str, float | None]:
    """The figures the checks judge (``None`` when a figure is undefined, e.g. no rows)."""
    bronze_rows = report["bronze_rows"]
    amounts = silver["amount"]
    median = float(amounts.median()) if len(amounts) else None
    latest = silver["event_time"].max() if len(silver) else None
    run_time, _ = freshness_reference(report, as_of)
    return {
        "null_rate": float(silver.isna().to_numpy().mean()) if len(silver) else 0.0,
        "duplicate_rate": report["duplicate_rows"] / bronze_rows if bronze_rows else 0.0,
        "quarantine_rate": report["quarantined_rows"] / bronze_rows if bronze_rows else 0.0,
        "freshness_hours": (run_time - latest).total_seconds() / 3600
        if latest is not None and run_time is not None
        else None,
        "amount_median": median,
        "amount_p99_over_median": float(amounts.quantile(0.99)) / median if median else None,
    }


METRICS: tuple[str, ...] = (
    "null_rate",
    "duplicate_rate",
    "quarantine_rate",
    "freshness_hours",
    "amount_median",
    "amount_p99_over_median",
)


def evaluate(name: str, value: float | None, threshold: Threshold) -> CheckResult:
    """Judge one figure: it passes when defined and within ``[min, max]``."""
    if value is None or math.isnan(value):
        return CheckResult(name, None, threshold, False, f"{name}: no data to measure")
    if threshold.min is not None and value < threshold.min:
        return CheckResult(
            name, value, threshold, False, f"{name} = {value:.6g} is below the minimum {threshold.min:g}"
        )
    if threshold.max is not None and value > threshold.max:
        return CheckResult(
            name, value, threshold, False, f"{name} = {value:.6g} is above the maximum {threshold.max:g}"
        )
    return CheckResult(name, value, threshold, True, f"{name} = {value:.6g} within bounds")


def run_checks(
    silver: pd.DataFrame, report: dict[str, Any], thresholds: dict[str, Threshold], as_of: str | None = None
) -> list[CheckResult]:
    """Every configured check on the batch (freshness against ``as_of``, or the ingestion time)."""
    metrics = quality_metrics(silver, report, as_of)
    return [evaluate(name, metrics[name], threshold) for name, threshold in thresholds.items()]


def verdict(results: list[CheckResult]) -> str:
    """``fail`` if a blocking check failed, ``warn`` if another did, else ``pass``."""
    if any(not r.passed and r.threshold.blocking for r in results):
        return "fail"
    if any(not r.passed for r in results):
        return "warn"
    return "pass"


def results_table(results: list[CheckResult], *, run_id: str, checked_at: pd.Timestamp) -> pd.DataFrame:
    """Rows for the ``quality_check_runs`` gold table."""
    return pd.DataFrame(
        {
            "run_id": pd.Series([run_id] * len(results), dtype="string[pyarrow]"),
            "checked_at": pd.Series(
                [checked_at.tz_localize(None) if checked_at.tzinfo else checked_at] * len(results),
                dtype="datetime64[ns]",
            ),
            "check_name": pd.Series([r.name for r in results], dtype="string[pyarrow]"),
            "value": pd.Series([r.value for r in results], dtype="float64"),
            "lower_bound": pd.Series([r.threshold.min for r in results], dtype="float64"),
            "upper_bound": pd.Series([r.threshold.max for r in results], dtype="float64"),
            "passed": pd.Series([r.passed for r in results], dtype=bool),
            "blocking": pd.Series([r.threshold.blocking for r in results], dtype=bool),
            "message": pd.Series([r.message for r in results], dtype="string[pyarrow]"),
        }
    )


def enforce(results: list[dict[str, Any]]) -> None:
    """Raise :class:`QualityGateError` naming every failed blocking check."""
    failed = [r for r in results if not r["passed"] and r["blocking"]]
    if failed:
        details = "; ".join(
            f"'{r['name']}' measured {r['value']!r} against min {r['min']!r} / max {r['max']!r}" for r in failed
        )
        raise QualityGateError(f"blocking quality checks failed: {details}")
