import math
import subprocess
import sys

import pytest

from streamflow.core import (
    FEATURE_NAMES,
    ConfigError,
    CustomerState,
    FeaturesConfig,
    RulesConfig,
    feature,
    process_event,
)
from tests.factories import make_event

CONFIG = RulesConfig.from_dict({"blacklist": {"store_ids": ["S-bad"]}})


def test_feature_names_are_in_the_model_order() -> None:
    assert FEATURE_NAMES == (
        "amount_zscore",
        "velocity_count",
        "time_deviation",
        "geo_speed_kmh",
        "is_blacklisted",
        "amount_ratio",
    )


def test_first_event_of_a_customer_has_neutral_features() -> None:
    assessment, state = process_event(None, make_event(amount=75.0), CONFIG)
    assert tuple(assessment.features) == (0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    assert assessment.rules_score == 0.0
    assert state.event_count == 1


def test_features_come_from_the_state_before_the_event() -> None:
    _, state = process_event(None, make_event(amount=100.0), CONFIG)
    _, state = process_event(state, make_event(minutes=2, amount=200.0), CONFIG)
    assessment, after = process_event(state, make_event(minutes=4, amount=300.0), CONFIG)
    # before: amounts 100, 200 -> mean 150, sample std 70.71
    assert assessment.features.amount_zscore == pytest.approx((300.0 - 150.0) / math.sqrt(5000.0))
    assert assessment.features.amount_ratio == pytest.approx(2.0)
    assert assessment.features.velocity_count == 2.0
    assert after.amount_mean == pytest.approx(200.0)


def test_geo_speed_is_distance_over_elapsed_time() -> None:
    _, state = process_event(None, make_event(latitude=0.0, longitude=0.0), CONFIG)
    assessment, _ = process_event(state, make_event(minutes=30, latitude=0.0, longitude=1.0), CONFIG)
    assert assessment.features.geo_speed_kmh == pytest.approx(111.195 * 2, rel=1e-4)


def test_time_deviation_is_circular_distance_to_the_typical_hour() -> None:
    state = None
    for day in range(3):
        _, state = process_event(state, make_event(minutes=day * 1440 + 10 * 60), CONFIG)  # 22:00 UTC
    assessment, _ = process_event(state, make_event(minutes=3 * 1440 + 13 * 60), CONFIG)  # 01:00 UTC
    assert assessment.features.time_deviation == pytest.approx(2.5)  # from 22:30 to 01:00


def test_is_blacklisted_feature_matches_the_blacklist_rule() -> None:
    assessment, _ = process_event(None, make_event(store_id="S-bad"), CONFIG)
    assert assessment.features.is_blacklisted == 1.0
    assert [rule.rule_id for rule in assessment.fired_rules] == ["FR-005"]


def test_process_event_leaves_the_input_state_unchanged() -> None:
    _, state = process_event(None, make_event(), CONFIG)
    frozen = state.to_bytes()
    process_event(state, make_event(minutes=1, amount=9_999.0), CONFIG)
    assert state.to_bytes() == frozen


def test_replaying_the_same_events_gives_the_same_numbers_bit_for_bit() -> None:
    events = [make_event(minutes=i * 7.5, amount=10.0 + (i * 37) % 90, longitude=2.0 + i * 0.4) for i in range(40)]

    def replay() -> list[tuple[float, ...]]:
        state: CustomerState | None = None
        out = []
        for event in events:
            assessment, state = process_event(state, event, CONFIG)
            out.append((*assessment.features, assessment.rules_score))
        return out

    assert replay() == replay()


def test_replay_through_serialized_state_matches_in_memory_replay() -> None:
    events = [make_event(minutes=i * 3.0, amount=5.0 + i) for i in range(30)]
    in_memory: CustomerState | None = None
    via_bytes: bytes | None = None
    for event in events:
        expected, in_memory = process_event(in_memory, event, CONFIG)
        restored = CustomerState.from_bytes(via_bytes) if via_bytes else None
        got, new_state = process_event(restored, event, CONFIG)
        via_bytes = new_state.to_bytes()
        assert got == expected


BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'kedro', 'pyflink', 'pandas', 'sklearn', 'pandera', 'sqlalchemy'}:
            raise ImportError(f'blocked import of {name}')
sys.meta_path.insert(0, Block())
import streamflow.core
from streamflow.core import parse_event, process_event, RulesConfig
print('core ok')
"""


def test_core_imports_without_kedro_pyflink_or_pandas() -> None:
    result = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "core ok"


def test_the_feature_list_comes_from_config_and_unknown_names_are_refused_at_load() -> None:
    chosen = FeaturesConfig.from_dict({"model": ["amount_ratio", "amount_zscore"]}).feature_set
    assessment, _ = process_event(None, make_event(amount=75.0), CONFIG, chosen)
    assert assessment.features._fields == ("amount_ratio", "amount_zscore")
    assert tuple(assessment.features) == (1.0, 0.0)
    with pytest.raises(ConfigError, match="unknown \\['amount_zcore'\\]"):
        FeaturesConfig.from_dict({"model": ["amount_zcore"]})
    with pytest.raises(ConfigError):
        FeaturesConfig.from_dict({"model": ["amount_ratio", "amount_ratio"]})
    with pytest.raises(ConfigError, match="cannot import 'no_such_team_module'"):
        FeaturesConfig.from_dict({"modules": ["no_such_team_module"]})


def test_the_champions_own_features_come_after_the_forests_and_are_computed_with_them() -> None:
    config = FeaturesConfig.from_dict({"model": ["amount_ratio"], "champion_only": ["customer_fraud_known_30d"]})
    assert config.names == ("amount_ratio", "customer_fraud_known_30d")
    assert config.feature_set.names == config.names
    assert config.feature_set.customer_outcome_names == ("customer_fraud_known_30d",)
    with pytest.raises(ConfigError, match="distinct registered features"):
        FeaturesConfig.from_dict({"model": ["amount_ratio"], "champion_only": ["amount_ratio"]})


def test_a_second_function_under_a_registered_name_is_refused() -> None:
    def amount_ratio(state: object, event: object, signals: object, params: object) -> float:
        return 0.0

    amount_ratio.__module__ = "someone_else"
    with pytest.raises(ConfigError, match="registered twice"):
        feature(amount_ratio)


WINDOWED = FeaturesConfig.from_dict(
    {"model": ["customer_count_1h", "customer_amount_sum_1h", "customer_amount_mean_1d", "customer_count_30d"]}
).feature_set


def _windowed(times_and_amounts: list[tuple[float, float]]) -> list[tuple[float, ...]]:
    state = None
    out = []
    for minutes, amount in times_and_amounts:
        assessment, state = process_event(state, make_event(minutes=minutes, amount=amount), CONFIG, WINDOWED)
        out.append(tuple(assessment.features))
    return out


def test_windowed_aggregates_count_and_sum_the_past_events_in_each_window() -> None:
    # 1 h tiles are 5 min: at minute 50 the window holds minutes 0, 10 and 40; at minute 70, only 40
    got = _windowed([(0, 10.0), (10, 20.0), (40, 30.0), (50, 40.0), (70, 50.0)])
    assert got[0] == (0.0, 0.0, 0.0, 0.0)  # no past events
    assert got[3] == (3.0, 60.0, 20.0, 3.0)
    assert got[4] == (2.0, 70.0, 25.0, 4.0)  # minutes 40 and 50 (minute 10 has left the hour)


def test_a_long_gap_clears_the_tiles_and_an_old_event_counts_only_where_its_tile_is_kept() -> None:
    two_days = 2 * 24 * 60
    got = _windowed([(0, 10.0), (5, 10.0), (two_days, 30.0), (two_days + 1, 5.0), (two_days - 30, 7.0)])
    assert got[2] == (0.0, 0.0, 0.0, 2.0)  # two days later: nothing in the last hour or day, both in 30 days
    assert got[3] == (1.0, 30.0, 30.0, 3.0)
    # half an hour behind the newest: the tiles up to its own; its own 60-hour tile counts whole, with
    # the two later events in it (exact to a tile)
    assert got[4] == (0.0, 0.0, 0.0, 4.0)
