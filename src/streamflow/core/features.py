"""Features, rules and state update for one event.

The single function both batch and stream call, so they compute the same numbers.

Every feature is computed from the customer's state *before* the event; then the
event is folded into a new state.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import mul
from typing import NamedTuple

from streamflow.core.contract import Event
from streamflow.core.geo import haversine_km, speed_kmh
from streamflow.core.rules import (
    RuleInputs,
    RuleResult,
    RulesConfig,
    circular_hour_distance,
    evaluate_rules,
    rules_score,
)
from streamflow.core.state import HOURS_PER_DAY, CustomerState

_HOUR_ANGLES = [2.0 * math.pi * (hour + 0.5) / HOURS_PER_DAY for hour in range(HOURS_PER_DAY)]
HOUR_COS = [math.cos(angle) for angle in _HOUR_ANGLES]
HOUR_SIN = [math.sin(angle) for angle in _HOUR_ANGLES]
MIN_RESULTANT = 1e-9  # an hour profile whose mean vector is shorter has no typical hour


class FeatureVector(NamedTuple):
    """The model's input, in the model's column order (``FEATURE_NAMES``).

    Attributes:
        amount_zscore: (amount - customer mean) / max(customer std, min_std); 0 below two past events.
        velocity_count: Past events of the customer within the velocity window before this one.
        time_deviation: Hours (0..12) between the local hour and the customer's circular-mean hour.
        geo_speed_kmh: Speed from the previous event's location; 0 for a customer's first event.
        is_blacklisted: 1.0 if the customer, card or store is blacklisted, else 0.0.
        amount_ratio: amount / customer mean; 1.0 for a customer's first event.

    """

    amount_zscore: float
    velocity_count: float
    time_deviation: float
    geo_speed_kmh: float
    is_blacklisted: float
    amount_ratio: float


FEATURE_NAMES: tuple[str, ...] = FeatureVector._fields


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the core concludes about one event."""

    features: FeatureVector
    rule_results: tuple[RuleResult, ...]
    rules_score: float

    @property
    def fired_rules(self) -> tuple[RuleResult, ...]:
        """Only the rules that fired."""
        return tuple(result for result in self.rule_results if result.fired)


def process_event(state: CustomerState | None, event: Event, config: RulesConfig) -> tuple[Assessment, CustomerState]:
    """Assess one event against the customer's state, then fold it in.

    Args:
        state: The customer's state before the event (``None`` for a new customer).
        event: The parsed event.
        config: Rule thresholds.

    Returns:
        The assessment (features, rule results, rules score) and the new state;
        the given state is not changed.

    """
    before = state if state is not None else CustomerState()
    inputs = rule_inputs(before, event, config)
    results = evaluate_rules(inputs, config)
    features = FeatureVector(
        amount_zscore=inputs.amount_zscore,
        velocity_count=float(inputs.velocity_count),
        time_deviation=inputs.time_deviation,
        geo_speed_kmh=inputs.geo_speed_kmh,
        is_blacklisted=1.0 if inputs.blacklisted_ids else 0.0,
        amount_ratio=_amount_ratio(before, event.amount),
    )
    after = before.updated(
        event,
        window_ms=config.velocity.window_ms,
        max_tracked_events=config.velocity.max_tracked_events,
    )
    return Assessment(features, results, rules_score(results)), after


def rule_inputs(state: CustomerState, event: Event, config: RulesConfig) -> RuleInputs:
    """Everything the rules read, computed from the state before the event."""
    amounts = state.amounts
    std = amounts.std
    zscore = (event.amount - amounts.mean) / max(std, config.high_value.min_std) if amounts.count >= 2 else 0.0
    distance = 0.0
    elapsed_ms = 0
    speed = 0.0
    if state.last_event_time_ms is not None:
        distance = haversine_km(state.last_latitude, state.last_longitude, event.latitude, event.longitude)
        elapsed_ms = event.event_time_ms - state.last_event_time_ms
        speed = speed_kmh(distance, elapsed_ms, min_interval_ms=config.impossible_travel.min_interval_ms)
    local_hour = event.local_hour
    typical_hour = _typical_hour(state.hour_counts)
    deviation = 0.0 if typical_hour is None else circular_hour_distance(local_hour, typical_hour)
    return RuleInputs(
        amount=event.amount,
        currency=event.currency,
        history_count=amounts.count,
        customer_mean=amounts.mean,
        customer_std=std,
        amount_zscore=zscore,
        velocity_count=_count_in_window(state.recent_event_times_ms, event.event_time_ms, config.velocity.window_ms),
        distance_km=distance,
        elapsed_minutes=abs(elapsed_ms) / 60_000.0,
        geo_speed_kmh=speed,
        local_hour=local_hour,
        typical_hour=local_hour if typical_hour is None else typical_hour,
        time_deviation=deviation,
        hour_share=_hour_share(state.hour_counts, amounts.count, int(local_hour)),
        blacklisted_ids=_blacklisted_ids(event, config),
    )


def _amount_ratio(state: CustomerState, amount: float) -> float:
    mean = state.amounts.mean
    return amount / mean if state.amounts.count >= 1 and mean > 0.0 else 1.0


def _count_in_window(times_ms: list[int], event_time_ms: int, window_ms: int) -> int:
    """Past event times within ``[event_time - window, event_time]`` (``times_ms`` is sorted)."""
    return bisect_right(times_ms, event_time_ms) - bisect_left(times_ms, event_time_ms - window_ms)


def _typical_hour(hour_counts: list[int]) -> float | None:
    """Circular mean of the hour profile (bins centred on the half hour); None if undefined."""
    cos_sum = sum(map(mul, hour_counts, HOUR_COS))
    sin_sum = sum(map(mul, hour_counts, HOUR_SIN))
    if math.hypot(cos_sum, sin_sum) < MIN_RESULTANT:
        return None
    return math.atan2(sin_sum, cos_sum) / (2.0 * math.pi) * HOURS_PER_DAY % HOURS_PER_DAY


def _hour_share(hour_counts: list[int], total: int, hour: int) -> float:
    """Share of past events in the event's hour bin and its two neighbours."""
    if total == 0:
        return 0.0
    near = hour_counts[(hour - 1) % HOURS_PER_DAY] + hour_counts[hour] + hour_counts[(hour + 1) % HOURS_PER_DAY]
    return near / total


def _blacklisted_ids(event: Event, config: RulesConfig) -> tuple[str, ...]:
    rule = config.blacklist
    hits = []
    if event.customer_id in rule.customer_ids:
        hits.append(f"customer {event.customer_id}")
    if event.card_id in rule.card_ids:
        hits.append("card")  # never the clear card id: reasons reach gold, which keeps only pseudonyms
    if event.store_id in rule.store_ids:
        hits.append(f"store {event.store_id}")
    return tuple(hits)


def replay_events(events: Iterable[Event], config: RulesConfig) -> Iterator[tuple[Event, Assessment]]:
    """Assess events one by one, keeping one state per customer, as the stream does.

    Args:
        events: Events in the order the stream would process them (event-time order,
            ties in arrival order); this function does not reorder them.
        config: Rule thresholds.

    Yields:
        Each event with its assessment.

    """
    states: dict[str, CustomerState] = {}
    for event in events:
        assessment, states[event.customer_id] = process_event(states.get(event.customer_id), event, config)
        yield event, assessment
