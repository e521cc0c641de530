"""The five fraud rules (FR-001..FR-005): their configuration, their verdicts and the rules score.

Each rule reads the signals the core computed for an event from the customer's state
*before* it (``streamflow.core.signals.SIGNALS``), in :func:`evaluate_rules`, compiled
for batch and stream alike. Its reason, for an alert, is written from the same signals.
Thresholds come from the ``fraud_rules`` block of ``conf/base/parameters_fraud_rules.yml``.

Cold start: a customer with fewer than ``min_history`` past events has no reliable
amount or hour profile, so FR-001 falls back to its absolute limit alone and FR-004
stays silent. FR-002, FR-003 and FR-005 need no history and apply from the first event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamflow.core.compiled import compiled
from streamflow.core.config import build_dataclass
from streamflow.core.errors import ConfigError
from streamflow.core.state import RECENT_CAPACITY
from streamflow.core.windows import N_WINDOWS, tile_lengths_ms


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
    if not config.velocity.max_transactions < config.velocity.max_tracked_events <= RECENT_CAPACITY:
        raise ConfigError(
            f"fraud_rules.velocity.max_tracked_events must exceed max_transactions and be at most {RECENT_CAPACITY}"
        )
    if config.min_history < 2:
        raise ConfigError("fraud_rules.min_history must be >= 2 (a standard deviation needs two)")


# The rule ids and names, in evaluation order; each name is also the rule's verdict field.
RULES: tuple[tuple[str, str], ...] = (
    ("FR-001", "high_value"),
    ("FR-002", "velocity"),
    ("FR-003", "impossible_travel"),
    ("FR-004", "unusual_hour"),
    ("FR-005", "blacklist"),
)
RULE_IDS: tuple[str, ...] = tuple(rule_id for rule_id, _ in RULES)
RULE_NAMES: tuple[str, ...] = tuple(name for _, name in RULES)

# The thresholds the compiled rules read, by name (``rule_params`` fills it from ``RulesConfig``).
RULE_PARAMS = np.dtype(
    [
        ("min_history", np.int64),
        ("high_value_weight", np.float64),
        ("zscore_threshold", np.float64),
        ("min_std", np.float64),
        ("velocity_weight", np.float64),
        ("max_transactions", np.int64),
        ("velocity_window_ms", np.int64),
        ("max_tracked_events", np.int64),
        ("impossible_travel_weight", np.float64),
        ("max_speed_kmh", np.float64),
        ("min_distance_km", np.float64),
        ("min_interval_ms", np.int64),
        ("unusual_hour_weight", np.float64),
        ("min_hours_from_typical", np.float64),
        ("max_hour_share", np.float64),
        ("blacklist_weight", np.float64),
        ("window_tile_ms", np.int64, (N_WINDOWS,)),  # the windows' tile lengths (core.windows), shortest first
    ],
    align=True,
)


def rule_params(config: RulesConfig, windows: Sequence[str]) -> NDArray[Any]:
    """The one-record ``RULE_PARAMS`` array of ``config``, the step's params, with the ``windows`` the state keeps."""
    values = {
        "min_history": config.min_history,
        "high_value_weight": config.high_value.weight,
        "zscore_threshold": config.high_value.zscore_threshold,
        "min_std": config.high_value.min_std,
        "velocity_weight": config.velocity.weight,
        "max_transactions": config.velocity.max_transactions,
        "velocity_window_ms": config.velocity.window_ms,
        "max_tracked_events": config.velocity.max_tracked_events,
        "impossible_travel_weight": config.impossible_travel.weight,
        "max_speed_kmh": config.impossible_travel.max_speed_kmh,
        "min_distance_km": config.impossible_travel.min_distance_km,
        "min_interval_ms": config.impossible_travel.min_interval_ms,
        "unusual_hour_weight": config.unusual_hour.weight,
        "min_hours_from_typical": config.unusual_hour.min_hours_from_typical,
        "max_hour_share": config.unusual_hour.max_hour_share,
        "blacklist_weight": config.blacklist.weight,
        "window_tile_ms": tile_lengths_ms(windows),
    }
    params = np.zeros(1, dtype=RULE_PARAMS)
    for name in RULE_PARAMS.names or ():
        params[0][name] = values[name]
    return params


@compiled
def evaluate_rules(signals: Any, params: Any) -> None:
    """Each rule's verdict on an event's ``signals`` and their noisy-OR score, written into ``signals``.

    The rules score is ``1 - prod(1 - weight)`` over the fired rules, in rule-id order: zero
    when nothing fires, a lone rule's weight, and towards one (never above) as more fire.
    """
    history = signals["history_count"] >= params["min_history"]
    # FR-001: at or above the absolute limit, or a z-score at or above the threshold
    signals["over_absolute_limit"] = signals["amount"] >= signals["absolute_limit"]
    signals["zscore_above_threshold"] = history and signals["amount_zscore"] >= params["zscore_threshold"]
    signals["high_value"] = signals["over_absolute_limit"] or signals["zscore_above_threshold"]
    # FR-002: this event makes more than max_transactions within the window
    signals["velocity"] = signals["velocity_count"] + 1 > params["max_transactions"]
    # FR-003: at least min_distance_km away at more than max_speed_kmh
    signals["impossible_travel"] = (
        signals["distance_km"] >= params["min_distance_km"] and signals["geo_speed_kmh"] > params["max_speed_kmh"]
    )
    # FR-004: far from the typical hour, and few past events within an hour of it
    signals["unusual_hour"] = (
        history
        and signals["time_deviation"] >= params["min_hours_from_typical"]
        and signals["hour_share"] < params["max_hour_share"]
    )
    # FR-005: customer, card or store on a blacklist
    signals["blacklist"] = signals["is_blacklisted"] != 0.0
    keep = 1.0
    if signals["high_value"]:
        keep *= 1.0 - params["high_value_weight"]
    if signals["velocity"]:
        keep *= 1.0 - params["velocity_weight"]
    if signals["impossible_travel"]:
        keep *= 1.0 - params["impossible_travel_weight"]
    if signals["unusual_hour"]:
        keep *= 1.0 - params["unusual_hour_weight"]
    if signals["blacklist"]:
        keep *= 1.0 - params["blacklist_weight"]
    signals["rules_score"] = 1.0 - keep


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


def rule_results(
    signals: Mapping[str, Any], currency: str, blacklisted_ids: tuple[str, ...], config: RulesConfig
) -> tuple[RuleResult, ...]:
    """Every rule's result, in rule-id order, with the reasons of those that fired.

    Args:
        signals: The event's ``SIGNALS`` record (or a mapping of its fields), verdicts included.
        currency: The event's currency, for FR-001's reason.
        blacklisted_ids: Which of the event's ids are blacklisted (``blacklisted_ids``), for FR-005's.
        config: The rules' configuration (weights and thresholds for the reasons).

    """
    weights = (
        config.high_value.weight,
        config.velocity.weight,
        config.impossible_travel.weight,
        config.unusual_hour.weight,
        config.blacklist.weight,
    )
    results = []
    for (rule_id, name), weight in zip(RULES, weights, strict=True):
        if signals[name]:
            results.append(
                RuleResult(rule_id, name, True, weight, _REASONS[name](signals, currency, blacklisted_ids, config))
            )
        else:
            results.append(_not_fired(rule_id, name, weight))
    return tuple(results)


def _high_value_reason(signals: Mapping[str, Any], currency: str, _ids: tuple[str, ...], config: RulesConfig) -> str:
    amount = float(signals["amount"])
    reasons = []
    if signals["over_absolute_limit"]:
        limit = float(signals["absolute_limit"])
        reasons.append(f"amount {amount:,.2f} {currency} is at or above the absolute limit {limit:,.2f}")
    if signals["zscore_above_threshold"]:
        reasons.append(
            f"amount {amount:,.2f} is {float(signals['amount_zscore']):.1f} std above the customer mean "
            f"{float(signals['customer_mean']):,.2f} (std {float(signals['customer_std']):,.2f}; "
            f"threshold {config.high_value.zscore_threshold:g})"
        )
    return "; ".join(reasons)


def _velocity_reason(signals: Mapping[str, Any], _currency: str, _ids: tuple[str, ...], config: RulesConfig) -> str:
    rule = config.velocity
    in_window = int(signals["velocity_count"]) + 1
    return f"{in_window} transactions within {rule.window_minutes:g} min (limit {rule.max_transactions})"


def _travel_reason(signals: Mapping[str, Any], _currency: str, _ids: tuple[str, ...], config: RulesConfig) -> str:
    elapsed_minutes = abs(int(signals["elapsed_ms"])) / 60_000.0
    return (
        f"{float(signals['distance_km']):,.0f} km from the previous transaction in {elapsed_minutes:,.1f} min: "
        f"{float(signals['geo_speed_kmh']):,.0f} km/h (limit {config.impossible_travel.max_speed_kmh:,.0f} km/h)"
    )


def _hour_reason(signals: Mapping[str, Any], _currency: str, _ids: tuple[str, ...], config: RulesConfig) -> str:
    rule = config.unusual_hour
    return (
        f"local time {_clock(float(signals['local_hour']))} is {float(signals['time_deviation']):.1f} h from the "
        f"customer's typical {_clock(float(signals['typical_hour']))}; {float(signals['hour_share']):.0%} of "
        f"{int(signals['history_count'])} past transactions within 1 h of it "
        f"(limits: >= {rule.min_hours_from_typical:g} h and < {rule.max_hour_share:.0%})"
    )


def _blacklist_reason(_signals: Mapping[str, Any], _currency: str, ids: tuple[str, ...], _config: RulesConfig) -> str:
    return "; ".join(f"blacklisted {identifier}" for identifier in ids)


_REASONS = {
    "high_value": _high_value_reason,
    "velocity": _velocity_reason,
    "impossible_travel": _travel_reason,
    "unusual_hour": _hour_reason,
    "blacklist": _blacklist_reason,
}


def blacklisted_ids(customer_id: str, card_id: str, store_id: str, rule: BlacklistRule) -> tuple[str, ...]:
    """Which of an event's ids are on the blacklist, as FR-005's reason names them (never the clear card id)."""
    hits = []
    if customer_id in rule.customer_ids:
        hits.append(f"customer {customer_id}")
    if card_id in rule.card_ids:
        hits.append("card")  # reasons reach gold, which keeps only pseudonyms
    if store_id in rule.store_ids:
        hits.append(f"store {store_id}")
    return tuple(hits)


@lru_cache(maxsize=256)
def _not_fired(rule_id: str, name: str, weight: float) -> RuleResult:
    """Shared immutable result for a rule that did not fire (the common case)."""
    return RuleResult(rule_id, name, False, weight)


def _clock(hour: float) -> str:
    minutes = round(hour * 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@compiled
def circular_hour_distance(a: float, b: float) -> float:
    """Distance in hours between two hours of day on the 24 h circle, in [0, 12]."""
    difference = np.fmod(abs(a - b), 24.0)
    return float(min(difference, 24.0 - difference))
