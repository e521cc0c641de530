"""The five fraud rules (FR-001..FR-005), their configuration and the rules score.

Each rule reads the customer's state *before* the event and the event's features,
and returns a :class:`RuleResult`. Thresholds come from the ``fraud_rules`` block of
``conf/base/parameters_fraud_rules.yml``.

Cold start: a customer with fewer than ``min_history`` past events has no reliable
amount or hour profile, so FR-001 falls back to its absolute limit alone and FR-004
stays silent. FR-002, FR-003 and FR-005 need no history and apply from the first event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from streamflow.core.config import build_dataclass
from streamflow.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class HighValueRule:
    """FR-001: amount far above the customer's mean, or above an absolute limit.

    ``absolute_limit`` is in units of the event's currency; currencies whose units are
    much smaller (JPY, KRW, ...) get their own limit in ``absolute_limit_by_currency``.
    """

    weight: float = 0.6
    zscore_threshold: float = 4.0
    absolute_limit: float = 10_000.0
    absolute_limit_by_currency: Mapping[str, float] = field(default_factory=dict)
    min_std: float = 1.0

    def limit_for(self, currency: str) -> float:
        """The absolute limit that applies to an amount in ``currency``."""
        return self.absolute_limit_by_currency.get(currency, self.absolute_limit)


@dataclass(frozen=True, slots=True)
class VelocityRule:
    """FR-002: more than ``max_transactions`` in a sliding window of ``window_minutes``."""

    weight: float = 0.5
    max_transactions: int = 5
    window_minutes: float = 10.0
    max_tracked_events: int = 64

    @property
    def window_ms(self) -> int:
        """The window in milliseconds."""
        return int(self.window_minutes * 60_000)


@dataclass(frozen=True, slots=True)
class ImpossibleTravelRule:
    """FR-003: consecutive locations too far apart for the time between them."""

    weight: float = 0.7
    max_speed_kmh: float = 900.0
    min_distance_km: float = 100.0
    min_interval_seconds: float = 60.0

    @property
    def min_interval_ms(self) -> int:
        """The interval floor in milliseconds."""
        return int(self.min_interval_seconds * 1000)


@dataclass(frozen=True, slots=True)
class UnusualHourRule:
    """FR-004: local hour far from the customer's typical hour and rarely used before."""

    weight: float = 0.3
    min_hours_from_typical: float = 6.0
    max_hour_share: float = 0.05


@dataclass(frozen=True, slots=True)
class BlacklistRule:
    """FR-005: customer, card or store on a configured blacklist."""

    weight: float = 1.0
    customer_ids: frozenset[str] = frozenset()
    card_ids: frozenset[str] = frozenset()
    store_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """All rule thresholds (the ``fraud_rules`` parameters block)."""

    min_history: int = 5
    high_value: HighValueRule = HighValueRule()
    velocity: VelocityRule = VelocityRule()
    impossible_travel: ImpossibleTravelRule = ImpossibleTravelRule()
    unusual_hour: UnusualHourRule = UnusualHourRule()
    blacklist: BlacklistRule = BlacklistRule()

    @classmethod
    def from_dict(cls, block: Mapping[str, Any] | None) -> RulesConfig:
        """Build from the ``fraud_rules`` block: unknown keys, wrong types and bad values are ``ConfigError``s."""
        config = build_dataclass(cls, block, path="fraud_rules")
        _validate(config)
        return config


def _validate(config: RulesConfig) -> None:
    weights = {
        "high_value": config.high_value.weight,
        "velocity": config.velocity.weight,
        "impossible_travel": config.impossible_travel.weight,
        "unusual_hour": config.unusual_hour.weight,
        "blacklist": config.blacklist.weight,
    }
    bad = {name: weight for name, weight in weights.items() if not 0.0 <= weight <= 1.0}
    if bad:
        raise ConfigError(f"fraud_rules weights must be within [0, 1], got {bad}")
    if config.velocity.max_transactions < 1 or config.velocity.window_minutes <= 0:
        raise ConfigError("fraud_rules.velocity needs max_transactions >= 1 and window_minutes > 0")
    if config.velocity.max_tracked_events <= config.velocity.max_transactions:
        raise ConfigError("fraud_rules.velocity.max_tracked_events must exceed max_transactions")
    if config.min_history < 2:
        raise ConfigError("fraud_rules.min_history must be >= 2 (a standard deviation needs two)")


@dataclass(frozen=True, slots=True)
class RuleResult:
    """The outcome of one rule for one event.

    Attributes:
        rule_id: Stable id (``FR-001`` ... ``FR-005``).
        name: Short name of the rule.
        fired: Whether the rule fired.
        weight: The rule's weight in the rules score.
        reason: Human-readable reason with the numbers that made it fire; empty if not fired.

    """

    rule_id: str
    name: str
    fired: bool
    weight: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RuleInputs:
    """What the rules read: the event's features plus a few context numbers."""

    amount: float
    currency: str
    history_count: int
    customer_mean: float
    customer_std: float
    amount_zscore: float
    velocity_count: int
    distance_km: float
    elapsed_minutes: float
    geo_speed_kmh: float
    local_hour: float
    typical_hour: float
    time_deviation: float
    hour_share: float
    blacklisted_ids: tuple[str, ...]


def high_value(inputs: RuleInputs, rule: HighValueRule, min_history: int) -> RuleResult:
    """FR-001: amount at or above the absolute limit, or a z-score at or above the threshold."""
    reasons = []
    limit = rule.limit_for(inputs.currency)
    if inputs.amount >= limit:
        reasons.append(f"amount {inputs.amount:,.2f} {inputs.currency} is at or above the absolute limit {limit:,.2f}")
    if inputs.history_count >= min_history and inputs.amount_zscore >= rule.zscore_threshold:
        reasons.append(
            f"amount {inputs.amount:,.2f} is {inputs.amount_zscore:.1f} std above the customer mean "
            f"{inputs.customer_mean:,.2f} (std {inputs.customer_std:,.2f}; threshold {rule.zscore_threshold:g})"
        )
    return _result("FR-001", "high_value", rule.weight, reasons)


def velocity(inputs: RuleInputs, rule: VelocityRule) -> RuleResult:
    """FR-002: this event makes more than ``max_transactions`` within the window."""
    in_window = inputs.velocity_count + 1
    reasons = []
    if in_window > rule.max_transactions:
        reasons.append(f"{in_window} transactions within {rule.window_minutes:g} min (limit {rule.max_transactions})")
    return _result("FR-002", "velocity", rule.weight, reasons)


def impossible_travel(inputs: RuleInputs, rule: ImpossibleTravelRule) -> RuleResult:
    """FR-003: at least ``min_distance_km`` away at more than ``max_speed_kmh``."""
    reasons = []
    if inputs.distance_km >= rule.min_distance_km and inputs.geo_speed_kmh > rule.max_speed_kmh:
        reasons.append(
            f"{inputs.distance_km:,.0f} km from the previous transaction in "
            f"{inputs.elapsed_minutes:,.1f} min: {inputs.geo_speed_kmh:,.0f} km/h "
            f"(limit {rule.max_speed_kmh:,.0f} km/h)"
        )
    return _result("FR-003", "impossible_travel", rule.weight, reasons)


def unusual_hour(inputs: RuleInputs, rule: UnusualHourRule, min_history: int) -> RuleResult:
    """FR-004: far from the typical hour and within +/-1 h of few past transactions."""
    reasons = []
    if (
        inputs.history_count >= min_history
        and inputs.time_deviation >= rule.min_hours_from_typical
        and inputs.hour_share < rule.max_hour_share
    ):
        reasons.append(
            f"local time {_clock(inputs.local_hour)} is {inputs.time_deviation:.1f} h from the "
            f"customer's typical {_clock(inputs.typical_hour)}; {inputs.hour_share:.0%} of "
            f"{inputs.history_count} past transactions within 1 h of it "
            f"(limits: >= {rule.min_hours_from_typical:g} h and < {rule.max_hour_share:.0%})"
        )
    return _result("FR-004", "unusual_hour", rule.weight, reasons)


def blacklist(inputs: RuleInputs, rule: BlacklistRule) -> RuleResult:
    """FR-005: any of the event's customer, card or store ids is blacklisted."""
    reasons = [f"blacklisted {identifier}" for identifier in inputs.blacklisted_ids]
    return _result("FR-005", "blacklist", rule.weight, reasons)


def evaluate_rules(inputs: RuleInputs, config: RulesConfig) -> tuple[RuleResult, ...]:
    """All five rules, in rule-id order."""
    return (
        high_value(inputs, config.high_value, config.min_history),
        velocity(inputs, config.velocity),
        impossible_travel(inputs, config.impossible_travel),
        unusual_hour(inputs, config.unusual_hour, config.min_history),
        blacklist(inputs, config.blacklist),
    )


def rules_score(results: tuple[RuleResult, ...]) -> float:
    """Noisy-OR of the fired rules' weights: ``1 - prod(1 - weight)``, in [0, 1].

    Zero when nothing fires; one fired rule scores its weight; more rules push the
    score towards one without exceeding it.
    """
    keep = 1.0
    for result in results:
        if result.fired:
            keep *= 1.0 - result.weight
    return 1.0 - keep


def _result(rule_id: str, name: str, weight: float, reasons: list[str]) -> RuleResult:
    if not reasons:
        return _not_fired(rule_id, name, weight)
    return RuleResult(rule_id, name, True, weight, "; ".join(reasons))


@lru_cache(maxsize=256)
def _not_fired(rule_id: str, name: str, weight: float) -> RuleResult:
    """Shared immutable result for a rule that did not fire (the common case)."""
    return RuleResult(rule_id, name, False, weight)


def _clock(hour: float) -> str:
    minutes = round(hour * 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def circular_hour_distance(a: float, b: float) -> float:
    """Distance in hours between two hours of day on the 24 h circle, in [0, 12]."""
    difference = math.fmod(abs(a - b), 24.0)
    return min(difference, 24.0 - difference)
