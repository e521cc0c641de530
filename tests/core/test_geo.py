import pytest

from streamflow.core.geo import haversine_km, speed_kmh


@pytest.mark.parametrize(
    ("a", "b", "km"),
    [
        ((51.5074, -0.1278), (48.8566, 2.3522), 343.6),  # London - Paris
        ((40.7128, -74.0060), (51.5074, -0.1278), 5570.2),  # New York - London
        ((-33.8688, 151.2093), (-36.8485, 174.7633), 2156.0),  # Sydney - Auckland
        ((0.0, 0.0), (0.0, 180.0), 20015.1),  # half the equator
        ((90.0, 0.0), (-90.0, 0.0), 20015.1),  # pole to pole
    ],
)
def test_haversine_matches_known_distances_within_half_a_percent(
    a: tuple[float, float], b: tuple[float, float], km: float
) -> None:
    assert haversine_km(*a, *b) == pytest.approx(km, rel=0.005)


def test_haversine_is_zero_for_the_same_point_and_symmetric() -> None:
    assert haversine_km(10.0, 20.0, 10.0, 20.0) == 0.0
    assert haversine_km(10.0, 20.0, -5.0, 170.0) == haversine_km(-5.0, 170.0, 10.0, 20.0)


def test_haversine_crosses_the_antimeridian_the_short_way() -> None:
    assert haversine_km(0.0, 179.5, 0.0, -179.5) == pytest.approx(111.2, rel=0.01)


def test_speed_floors_the_interval_and_uses_its_absolute_value() -> None:
    assert speed_kmh(100.0, 3_600_000, min_interval_ms=60_000) == pytest.approx(100.0)
    assert speed_kmh(100.0, 0, min_interval_ms=60_000) == pytest.approx(6000.0)
    assert speed_kmh(100.0, -1_800_000, min_interval_ms=60_000) == pytest.approx(200.0)
