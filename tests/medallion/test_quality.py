import pandas as pd
import pytest

from streamflow.core import ConfigError
from streamflow.medallion import quality

REPORT = {"bronze_rows": 100, "duplicate_rows": 2, "quarantined_rows": 5, "ingested_at": "2026-01-06T00:00:00+00:00"}
SILVER = pd.DataFrame(
    {
        "amount": [1.0, 2.0, 3.0, 4.0, 100.0],
        "event_time": pd.to_datetime(["2026-01-05T12:00:00Z"] * 5),
    }
)


def test_metrics_are_computed_from_the_batch_and_report() -> None:
    metrics = quality.quality_metrics(SILVER, REPORT)
    assert metrics["duplicate_rate"] == 0.02
    assert metrics["quarantine_rate"] == 0.05
    assert metrics["freshness_hours"] == 12.0  # against the ingestion time
    assert quality.quality_metrics(SILVER, REPORT, "2026-01-05T18:00:00+00:00")["freshness_hours"] == 6.0
    assert quality.freshness_reference(REPORT, None)[1] == "the ingestion time 2026-01-06T00:00:00+00:00"
    assert metrics["amount_median"] == 3.0
    assert metrics["null_rate"] == 0.0


@pytest.mark.parametrize(
    ("value", "bounds", "passed"),
    [(0.05, {"max": 0.05}, True), (0.051, {"max": 0.05}, False), (0.5, {"min": 1.0}, False), (None, {"max": 1}, False)],
)
def test_a_check_passes_within_its_inclusive_bounds(
    value: float | None, bounds: dict[str, float], passed: bool
) -> None:
    assert quality.evaluate("x", value, quality.Threshold(**bounds)).passed is passed


def test_verdict_is_fail_only_for_blocking_breaches() -> None:
    results = quality.run_checks(
        SILVER,
        REPORT,
        quality.parse_thresholds({"quarantine_rate": {"max": 0.01, "blocking": False}, "null_rate": {"max": 0.0}}),
    )
    assert quality.verdict(results) == "warn"
    blocking = quality.run_checks(
        SILVER, REPORT, quality.parse_thresholds({"quarantine_rate": {"max": 0.01, "blocking": True}})
    )
    assert quality.verdict(blocking) == "fail"


def test_gate_message_names_the_check_the_figure_and_the_threshold() -> None:
    results = [{"name": "quarantine_rate", "value": 0.05, "min": None, "max": 0.01, "blocking": True, "passed": False}]
    with pytest.raises(
        quality.QualityGateError, match=r"'quarantine_rate' measured 0\.05 against min None / max 0\.01"
    ):
        quality.enforce(results)


def test_gate_ignores_non_blocking_failures() -> None:
    quality.enforce(
        [{"name": "freshness_hours", "value": 99.0, "min": None, "max": 2.0, "blocking": False, "passed": False}]
    )


def test_unknown_check_names_are_rejected() -> None:
    with pytest.raises(ConfigError, match="nul_rate"):
        quality.parse_thresholds({"nul_rate": {"max": 0}})


def test_results_table_matches_the_gold_schema() -> None:
    from streamflow.medallion.schemas import QualityCheckRuns

    results = quality.run_checks(SILVER, REPORT, quality.parse_thresholds({"null_rate": {"max": 0.0}}))
    table = quality.results_table(results, run_id="r1", checked_at=pd.Timestamp("2026-01-06T00:00:00Z"))
    QualityCheckRuns.validate(table)
