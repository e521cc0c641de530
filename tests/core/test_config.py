"""Typed config at load: a wrong type or an unknown key names the full key, what it takes and what arrived."""

from typing import Any

import pytest
import yaml

from streamflow.core import ConfigKeyError, ConfigTypeError, ContractConfig, RulesConfig
from tests.conftest import REPO_ROOT


def _rules_with(section: str | None, key: str, value: Any) -> dict[str, Any]:
    block = yaml.safe_load((REPO_ROOT / "conf/base/parameters_fraud_rules.yml").read_text())["fraud_rules"]
    (block if section is None else block[section])[key] = value
    return dict(block)


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("high_value", "weight", "high", "fraud_rules.high_value.weight: expected a number, got 'high' (str)"),
        (None, "min_history", "five", "fraud_rules.min_history: expected an integer, got 'five' (str)"),
        (None, "min_history", True, "fraud_rules.min_history: expected an integer, got True (bool)"),
        (
            "impossible_travel",
            "max_speed_kmh",
            "fast",
            "fraud_rules.impossible_travel.max_speed_kmh: expected a number, got 'fast' (str)",
        ),
        ("blacklist", "store_ids", "S00007", "fraud_rules.blacklist.store_ids: expected a list, got 'S00007' (str)"),
        (
            "high_value",
            "absolute_limit_by_currency",
            {"JPY": "a lot"},
            "fraud_rules.high_value.absolute_limit_by_currency: expected a mapping whose values are a number",
        ),
    ],
)
def test_a_rule_value_of_the_wrong_type_names_its_key(section: str | None, key: str, value: Any, expected: str) -> None:
    with pytest.raises(ConfigTypeError) as caught:
        RulesConfig.from_dict(_rules_with(section, key, value))
    assert caught.value.code == "config_bad_type"
    assert str(caught.value).startswith(expected)


def test_a_typo_names_the_key_and_the_keys_it_could_be() -> None:
    with pytest.raises(ConfigKeyError) as caught:
        RulesConfig.from_dict(_rules_with("velocity", "window_minute", 3))
    assert caught.value.code == "config_bad_key"
    assert caught.value.key == "fraud_rules.velocity.window_minute"
    assert "window_minutes" in str(caught.value)


def test_integers_are_numbers_and_lists_become_sets() -> None:
    rules = RulesConfig.from_dict(_rules_with("impossible_travel", "max_speed_kmh", 800))
    assert rules.impossible_travel.max_speed_kmh == 800.0
    assert isinstance(rules.impossible_travel.max_speed_kmh, float)
    assert rules.blacklist.store_ids == frozenset({"S00007", "S00042", "S00311"})
    assert ContractConfig.from_dict({"allowed_currencies": ["EUR"]}).allowed_currencies == frozenset({"EUR"})
