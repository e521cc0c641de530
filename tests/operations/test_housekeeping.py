import pytest

from streamflow.operations import housekeeping
from streamflow.operations.clock import as_of_time


@pytest.mark.parametrize(
    ("dialect", "vacuum", "analyze", "expected"),
    [
        ("sqlite", True, True, ["VACUUM", "ANALYZE"]),
        ("sqlite", False, True, ["ANALYZE"]),
        ("postgresql", True, True, ["VACUUM (ANALYZE)"]),
        ("postgresql", True, False, ["VACUUM"]),
        ("postgresql", False, True, ["ANALYZE"]),
        ("postgresql", False, False, []),
    ],
)
def test_statements_per_dialect(dialect: str, vacuum: bool, analyze: bool, expected: list[str]) -> None:
    config = housekeeping.HousekeepingConfig(vacuum=vacuum, analyze=analyze)
    assert housekeeping.statements(dialect, config) == expected


def test_an_unknown_dialect_is_refused_with_its_code() -> None:
    with pytest.raises(housekeeping.HousekeepingError, match=r"\[housekeeping_error\].*'mysql'"):
        housekeeping.statements("mysql", housekeeping.HousekeepingConfig())


def test_as_of_treats_naive_times_as_utc_and_converts_offsets() -> None:
    assert as_of_time("2026-03-10T12:00:00").isoformat() == "2026-03-10T12:00:00+00:00"
    assert as_of_time("2026-03-10T14:00:00+02:00").isoformat() == "2026-03-10T12:00:00+00:00"
    assert as_of_time(None).tzinfo is not None
