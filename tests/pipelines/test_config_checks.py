"""``kedro run`` checks every typed parameter block when it loads the configuration, before any work."""

from pathlib import Path

import pytest

from tests.pipelines.test_generate_pipeline import _kedro


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("fraud_rules.high_value.weight=high", "[config_bad_type] fraud_rules.high_value.weight: expected a number"),
        ("fraud_rules.min_history=five", "[config_bad_type] fraud_rules.min_history: expected an integer"),
        ("fraud_rules.velocity.window_minute=3", "[config_bad_key] fraud_rules.velocity.window_minute"),
    ],
)
def test_a_bad_rule_parameter_stops_the_run_in_one_short_paragraph(
    kedro_project: Path, params: str, message: str
) -> None:
    result = _kedro(kedro_project, "run", "--pipelines", "generate", "--params", params)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert message in output
    assert "Traceback" not in output
    assert len(result.stderr.strip().splitlines()) <= 3, result.stderr
    assert not any((kedro_project / "data/01_raw").iterdir())  # refused before any work
