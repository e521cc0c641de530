import pytest

from streamflow.core import ConfigError, CustomerState, RulesConfig, process_event
from streamflow.core.rules import RuleResult, circular_hour_distance
from tests.factories import make_event

CONFIG = RulesConfig.from_dict(
    {
        "min_history": 5,
        "high_value": {
            "zscore_threshold": 4.0,
            "absolute_limit": 10_000.0,
            "min_std": 1.0,
            "absolute_limit_by_currency": {"JPY": 900_000.0},
        },
        "velocity": {"max_transactions": 5, "window_minutes": 10},
        "impossible_travel": {"max_speed_kmh": 900.0, "min_distance_km": 100.0, "min_interval_seconds": 60},
        "unusual_hour": {"min_hours_from_typical": 6.0, "max_hour_share": 0.05},
        "blacklist": {"customer_ids": ["C-bad"], "card_ids": ["K-bad"], "store_ids": ["S-bad"]},
    }
)


def _fired(assessment_rules: tuple[RuleResult, ...], rule_id: str) -> RuleResult:
    return next(result for result in assessment_rules if result.rule_id == rule_id)


def _history(amounts: list[float], *, spacing_minutes: float = 60.0) -> CustomerState:
    state = None
    for i, amount in enumerate(amounts):
        _, state = process_event(state, make_event(minutes=i * spacing_minutes, amount=amount), CONFIG)
    assert state is not None
    return state


# FR-001 high value ---------------------------------------------------------------------


def test_high_value_fires_just_above_the_zscore_threshold_and_not_just_below() -> None:
    state = _history([90.0, 110.0] * 5)  # mean 100, sample std 10.54
    std = state.amount_std
    at = process_event(state, make_event(minutes=10_000, amount=100.0 + 4.001 * std), CONFIG)[0]
    below = process_event(state, make_event(minutes=10_000, amount=100.0 + 3.999 * std), CONFIG)[0]
    assert _fired(at.rule_results, "FR-001").fired
    assert "4.0 std above the customer mean 100.00" in _fired(at.rule_results, "FR-001").reason
    assert not _fired(below.rule_results, "FR-001").fired


def test_high_value_absolute_limit_fires_even_for_a_new_customer() -> None:
    at_limit = process_event(None, make_event(amount=10_000.0), CONFIG)[0]
    below = process_event(None, make_event(amount=9_999.99), CONFIG)[0]
    assert _fired(at_limit.rule_results, "FR-001").fired
    assert "absolute limit 10,000.00" in _fired(at_limit.rule_results, "FR-001").reason
    assert not _fired(below.rule_results, "FR-001").fired


def test_high_value_uses_the_per_currency_limit() -> None:
    assert not _fired(
        process_event(None, make_event(amount=50_000.0, currency="JPY"), CONFIG)[0].rule_results, "FR-001"
    ).fired
    assert _fired(
        process_event(None, make_event(amount=900_000.0, currency="JPY"), CONFIG)[0].rule_results, "FR-001"
    ).fired


def test_high_value_zscore_is_silent_during_cold_start() -> None:
    state = _history([10.0, 12.0, 11.0, 10.0])  # 4 < min_history
    assessment = process_event(state, make_event(minutes=10_000, amount=5_000.0), CONFIG)[0]
    assert assessment.features.amount_zscore > 100
    assert not _fired(assessment.rule_results, "FR-001").fired


def test_high_value_std_floor_avoids_huge_zscores_on_constant_amounts() -> None:
    state = _history([20.0] * 10)
    assessment = process_event(state, make_event(minutes=10_000, amount=23.0), CONFIG)[0]
    assert assessment.features.amount_zscore == pytest.approx(3.0)  # (23 - 20) / min_std 1.0
    assert not _fired(assessment.rule_results, "FR-001").fired


# FR-002 velocity -----------------------------------------------------------------------


def _burst(n: int, *, spacing_minutes: float) -> list[bool]:
    state = None
    fired = []
    for i in range(n):
        assessment, state = process_event(state, make_event(minutes=i * spacing_minutes), CONFIG)
        fired.append(_fired(assessment.rule_results, "FR-002").fired)
    return fired


def test_velocity_rule_fires_on_sixth_txn_in_window() -> None:
    assert _burst(7, spacing_minutes=1.0) == [False] * 5 + [True, True]


def test_velocity_rule_counts_the_window_boundary_inclusively() -> None:
    # six events exactly 2 minutes apart: the first is exactly 10 minutes before the sixth
    assert _burst(6, spacing_minutes=2.0)[-1] is True
    assert _burst(6, spacing_minutes=2.01)[-1] is False


def test_velocity_reason_names_count_window_and_limit() -> None:
    state = None
    for i in range(6):
        assessment, state = process_event(state, make_event(minutes=i), CONFIG)
    assert _fired(assessment.rule_results, "FR-002").reason == "6 transactions within 10 min (limit 5)"


# FR-003 impossible travel --------------------------------------------------------------


def _travel(km_east: float, minutes: float) -> RuleResult:
    # at the equator one degree of longitude is 111.195 km
    _, state = process_event(None, make_event(latitude=0.0, longitude=0.0), CONFIG)
    second = make_event(minutes=minutes, latitude=0.0, longitude=km_east / 111.19508)
    return _fired(process_event(state, second, CONFIG)[0].rule_results, "FR-003")


def test_impossible_travel_fires_above_the_speed_limit() -> None:
    assert _travel(1000.0, 60.0).fired  # 1,000 km/h
    assert "1,000 km from the previous transaction in 60.0 min" in _travel(1000.0, 60.0).reason
    assert not _travel(890.0, 60.0).fired  # 890 km/h


def test_impossible_travel_ignores_short_hops_however_fast() -> None:
    assert not _travel(99.0, 1.0).fired  # 5,940 km/h but under min_distance_km
    assert _travel(101.0, 1.0).fired


def test_impossible_travel_floors_the_interval_for_simultaneous_events() -> None:
    result = _travel(200.0, 0.0)
    assert result.fired
    assert "12,000 km/h" in result.reason  # 200 km over the 60 s floor


def test_impossible_travel_is_silent_on_a_first_event() -> None:
    assert not _fired(
        process_event(None, make_event(latitude=-33.0, longitude=151.0), CONFIG)[0].rule_results, "FR-003"
    ).fired


# FR-004 unusual hour -------------------------------------------------------------------


def _daytime_customer(n: int) -> CustomerState:
    state = None
    for day in range(n):
        _, state = process_event(state, make_event(minutes=day * 1440 + 120), CONFIG)  # 14:00 UTC daily
    assert state is not None
    return state


def test_unusual_hour_fires_far_from_the_typical_hour() -> None:
    state = _daytime_customer(10)
    night = make_event(minutes=10 * 1440 + 14 * 60)  # 02:00 UTC, 11.5 h from 14:30
    result = _fired(process_event(state, night, CONFIG)[0].rule_results, "FR-004")
    assert result.fired
    assert "local time 02:00 is 11.5 h from the customer's typical 14:30" in result.reason


def test_unusual_hour_threshold_in_hours_from_typical() -> None:
    state = _daytime_customer(10)  # typical 14:30
    at = make_event(minutes=10 * 1440 + 8 * 60 + 30)  # 20:30 -> 6.0 h
    below = make_event(minutes=10 * 1440 + 8 * 60 + 29)  # 20:29 -> 5.98 h
    assert _fired(process_event(state, at, CONFIG)[0].rule_results, "FR-004").fired
    assert not _fired(process_event(state, below, CONFIG)[0].rule_results, "FR-004").fired


def test_unusual_hour_is_silent_for_an_hour_the_customer_often_uses() -> None:
    state = _daytime_customer(10)
    for day in range(10, 13):  # 3 of 13 at 02:xx: share 23% >= 5%
        _, state = process_event(state, make_event(minutes=day * 1440 + 14 * 60), CONFIG)
    night = make_event(minutes=20 * 1440 + 14 * 60)
    assert not _fired(process_event(state, night, CONFIG)[0].rule_results, "FR-004").fired


def test_unusual_hour_uses_the_local_hour_of_the_event_offset() -> None:
    state = _daytime_customer(10)  # typical 14:30 local (UTC offset 0)
    same_instant_tokyo = make_event(minutes=10 * 1440 + 120, timestamp="2026-01-15T23:00:00+09:00")
    assert same_instant_tokyo.local_hour == 23.0
    assert _fired(process_event(state, same_instant_tokyo, CONFIG)[0].rule_results, "FR-004").fired


def test_unusual_hour_is_silent_during_cold_start() -> None:
    state = _daytime_customer(4)
    night = make_event(minutes=5 * 1440 + 14 * 60)
    assert not _fired(process_event(state, night, CONFIG)[0].rule_results, "FR-004").fired


# FR-005 blacklist ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"customer_id": "C-bad"}, "customer C-bad"),
        ({"card_id": "K-bad"}, "blacklisted card"),
        ({"store_id": "S-bad"}, "store S-bad"),
    ],
)
def test_blacklist_fires_on_each_id_kind(overrides: dict[str, str], reason: str) -> None:
    result = _fired(process_event(None, make_event(**overrides), CONFIG)[0].rule_results, "FR-005")
    assert result.fired
    assert reason in result.reason


def test_a_blacklisted_cards_reason_never_holds_the_clear_card_id() -> None:
    """Reasons reach gold's fact_fraud_alerts, which keeps card pseudonyms only."""
    result = _fired(process_event(None, make_event(card_id="K-bad"), CONFIG)[0].rule_results, "FR-005")
    assert result.fired
    assert "K-bad" not in result.reason


def test_blacklist_is_exact_match_only() -> None:
    assert not _fired(process_event(None, make_event(store_id="S-bad2"), CONFIG)[0].rule_results, "FR-005").fired


# Rules score ---------------------------------------------------------------------------


def test_rules_score_is_zero_when_nothing_fires_and_the_noisy_or_of_weights() -> None:
    assert process_event(None, make_event(), CONFIG)[0].rules_score == 0.0
    one = process_event(None, make_event(amount=20_000.0), CONFIG)[0]  # FR-001 alone (weight 0.6)
    assert [r.rule_id for r in one.fired_rules] == ["FR-001"]
    assert one.rules_score == pytest.approx(0.6)
    state = _history([50.0] * 5, spacing_minutes=1.0)  # FR-002 (weight 0.5) joins on the sixth in 10 min
    two = process_event(state, make_event(minutes=5, amount=20_000.0), CONFIG)[0]
    assert [r.rule_id for r in two.fired_rules] == ["FR-001", "FR-002"]
    assert two.rules_score == pytest.approx(1 - 0.4 * 0.5)


def test_rules_score_stays_within_unit_interval_with_every_rule_fired() -> None:
    certain = RulesConfig.from_dict({"high_value": {"weight": 1.0}, "blacklist": {"store_ids": ["S-bad"]}})
    both = process_event(None, make_event(amount=20_000.0, store_id="S-bad"), certain)[0]
    assert both.rules_score == 1.0


def test_rules_are_reported_in_rule_id_order() -> None:
    ids = [result.rule_id for result in process_event(None, make_event(), CONFIG)[0].rule_results]
    assert ids == ["FR-001", "FR-002", "FR-003", "FR-004", "FR-005"]


def test_circular_hour_distance_wraps_around_midnight() -> None:
    assert circular_hour_distance(23.0, 1.0) == 2.0
    assert circular_hour_distance(0.0, 12.0) == 12.0
    assert circular_hour_distance(6.0, 6.0) == 0.0


# Config --------------------------------------------------------------------------------


def test_rules_config_rejects_unknown_keys_with_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="zscore_treshold"):
        RulesConfig.from_dict({"high_value": {"zscore_treshold": 3}})


def test_rules_config_rejects_weights_outside_unit_interval() -> None:
    with pytest.raises(ConfigError, match="weights"):
        RulesConfig.from_dict({"velocity": {"weight": 1.5}})


def test_project_rules_config_loads() -> None:
    import yaml

    with open("conf/base/parameters_fraud_rules.yml", encoding="utf-8") as handle:
        block = yaml.safe_load(handle)["fraud_rules"]
    config = RulesConfig.from_dict(block)
    assert config.velocity.max_transactions == 5
    assert "S00007" in config.blacklist.store_ids
