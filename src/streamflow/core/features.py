"""Features, rule verdicts and the new state for one event: the core's one definition.

:func:`step` assesses one event against its customer's state *before* it (the model's
features and the signals the rules read, then the rules' verdicts) and folds the event in.
It is compiled, and both paths call it: the batch replay (:func:`replay`, for the Kedro
feature table, evaluation and notebooks) and the stream (``flink_app.scoring_step``). So
batch and stream compute the same numbers because they run the same code.

An event enters as an ``EVENT_INPUT`` record (:func:`event_input`); its assessment is an
``ASSESSMENT`` record, whose first fields are the features in ``FEATURE_NAMES`` order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from streamflow.core.compiled import compiled
from streamflow.core.contract import Event
from streamflow.core.geo import haversine_km, speed_kmh
from streamflow.core.rules import (
    RULE_NAMES,
    RuleResult,
    RulesConfig,
    blacklisted_ids,
    circular_hour_distance,
    evaluate_rules,
    rule_params,
    rule_results,
)
from streamflow.core.state import CUSTOMER_STATE, HOURS_PER_DAY, CustomerState, fold_event, sample_std

_HOUR_ANGLES = np.array([2.0 * math.pi * (hour + 0.5) / HOURS_PER_DAY for hour in range(HOURS_PER_DAY)])
HOUR_COS = np.cos(_HOUR_ANGLES)
HOUR_SIN = np.sin(_HOUR_ANGLES)
MIN_RESULTANT = 1e-9  # an hour profile whose mean vector is shorter has no typical hour
_MS_PER_MINUTE = 60_000
_MS_PER_HOUR = 3_600_000
_MS_PER_DAY = 86_400_000


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

# One event, as the compiled step reads it.
EVENT_INPUT = np.dtype(
    [
        ("amount", np.float64),
        ("latitude", np.float64),
        ("longitude", np.float64),
        ("absolute_limit", np.float64),  # FR-001's limit in the event's currency
        ("event_time_ms", np.int64),
        ("utc_offset_minutes", np.int64),
        ("blacklisted", np.float64),  # 1.0 if the customer, card or store is blacklisted
    ]
)

# What the step concludes about one event: the features, then the signals the rules and their
# reasons read, then each rule's verdict (named as in RULES) and the rules score.
ASSESSMENT = np.dtype(
    [
        *((name, np.float64) for name in FEATURE_NAMES),
        ("amount", np.float64),
        ("absolute_limit", np.float64),
        ("history_count", np.int64),
        ("customer_mean", np.float64),
        ("customer_std", np.float64),
        ("distance_km", np.float64),
        ("elapsed_ms", np.int64),
        ("local_hour", np.float64),
        ("typical_hour", np.float64),
        ("hour_share", np.float64),
        ("over_absolute_limit", np.bool_),
        ("zscore_above_threshold", np.bool_),
        *((name, np.bool_) for name in RULE_NAMES),
        ("rules_score", np.float64),
    ]
)


@compiled
def step(state: Any, event: Any, params: Any, out: Any) -> None:
    """Assess ``event`` against the customer's ``state`` into ``out``, then fold it into ``state``."""
    assess(state, event, params, out)
    fold_event(
        state,
        event["amount"],
        event["latitude"],
        event["longitude"],
        event["event_time_ms"],
        int(out["local_hour"]),
        params,
    )


@compiled
def assess(state: Any, event: Any, params: Any, out: Any) -> None:
    """Features, signals and rule verdicts of ``event`` from the customer's ``state`` before it."""
    count = state["event_count"]
    mean = state["amount_mean"]
    std = sample_std(count, state["amount_m2"])
    amount = event["amount"]
    time_ms = event["event_time_ms"]
    distance = 0.0
    elapsed_ms = 0
    speed = 0.0
    if count > 0:
        distance = haversine_km(state["last_latitude"], state["last_longitude"], event["latitude"], event["longitude"])
        elapsed_ms = time_ms - state["last_event_time_ms"]
        speed = speed_kmh(distance, elapsed_ms, params["min_interval_ms"])
    hour = local_hour(time_ms, event["utc_offset_minutes"])
    typical = typical_hour(state["hour_counts"])
    recent = state["recent_times_ms"][: state["recent_count"]]

    out["amount_zscore"] = (amount - mean) / max(std, params["min_std"]) if count >= 2 else 0.0
    out["velocity_count"] = count_in_window(recent, time_ms - params["velocity_window_ms"], time_ms)
    out["time_deviation"] = 0.0 if math.isnan(typical) else circular_hour_distance(hour, typical)
    out["geo_speed_kmh"] = speed
    out["is_blacklisted"] = event["blacklisted"]
    out["amount_ratio"] = amount / mean if count >= 1 and mean > 0.0 else 1.0

    out["amount"] = amount
    out["absolute_limit"] = event["absolute_limit"]
    out["history_count"] = count
    out["customer_mean"] = mean
    out["customer_std"] = std
    out["distance_km"] = distance
    out["elapsed_ms"] = elapsed_ms
    out["local_hour"] = hour
    out["typical_hour"] = hour if math.isnan(typical) else typical
    out["hour_share"] = hour_share(state["hour_counts"], count, int(hour))
    evaluate_rules(out, params)


@compiled
def local_hour(event_time_ms: int, utc_offset_minutes: int) -> float:
    """Local wall-clock hour of day as a fraction in [0, 24)."""
    local_ms = event_time_ms + utc_offset_minutes * _MS_PER_MINUTE
    return (local_ms % _MS_PER_DAY) / _MS_PER_HOUR


@compiled
def typical_hour(hour_counts: Any) -> float:
    """Circular mean of the hour profile (bins centred on the half hour); NaN if it has none."""
    cos_sum = 0.0
    sin_sum = 0.0
    for hour in range(HOURS_PER_DAY):
        cos_sum += hour_counts[hour] * HOUR_COS[hour]
    for hour in range(HOURS_PER_DAY):
        sin_sum += hour_counts[hour] * HOUR_SIN[hour]
    if math.hypot(cos_sum, sin_sum) < MIN_RESULTANT:
        return math.nan
    return float(math.atan2(sin_sum, cos_sum) / (2.0 * math.pi) * HOURS_PER_DAY % HOURS_PER_DAY)


@compiled
def hour_share(hour_counts: Any, total: int, hour: int) -> float:
    """Share of past events in the event's hour bin and its two neighbours."""
    if total == 0:
        return 0.0
    before = hour_counts[(hour - 1) % HOURS_PER_DAY]
    after = hour_counts[(hour + 1) % HOURS_PER_DAY]
    return float((np.int64(before) + np.int64(hour_counts[hour]) + np.int64(after)) / total)


@compiled
def count_in_window(sorted_times: Any, start_ms: int, end_ms: int) -> int:
    """Times within ``[start_ms, end_ms]`` of a sorted array."""
    right = np.searchsorted(sorted_times, end_ms, side="right")
    return int(right - np.searchsorted(sorted_times, start_ms, side="left"))


@compiled
def replay(events: Any, customers: Any, n_customers: int, params: Any) -> Any:
    """Every event's assessment, stepping one state per customer in the given order.

    Args:
        events: ``EVENT_INPUT`` records in the order the stream would take them.
        customers: Each event's customer as an index in ``range(n_customers)``.
        n_customers: How many customers.
        params: The one-record ``RULE_PARAMS`` array.

    """
    states = np.zeros(n_customers, dtype=CUSTOMER_STATE)
    out = np.zeros(events.shape[0], dtype=ASSESSMENT)
    for index in range(events.shape[0]):
        step(states[customers[index]], events[index], params[0], out[index])
    return out


def event_input(
    amount: float,
    latitude: float,
    longitude: float,
    currency: str,
    event_time_ms: int,
    utc_offset_minutes: int,
    blacklisted: bool,
    config: RulesConfig,
) -> tuple[float, float, float, float, int, int, float]:
    """One event's ``EVENT_INPUT`` values, in field order."""
    limit = config.high_value.limit_for(currency)
    return (amount, latitude, longitude, limit, event_time_ms, utc_offset_minutes, 1.0 if blacklisted else 0.0)


def event_input_of(event: Event, config: RulesConfig) -> tuple[float, float, float, float, int, int, float]:
    """``event_input`` of a parsed event."""
    listed = bool(blacklisted_ids(event.customer_id, event.card_id, event.store_id, config.blacklist))
    return event_input(
        event.amount,
        event.latitude,
        event.longitude,
        event.currency,
        event.event_time_ms,
        event.utc_offset_minutes,
        listed,
        config,
    )


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


def assessment_of(signals: Any, event: Event, config: RulesConfig) -> Assessment:
    """The :class:`Assessment` of an ``ASSESSMENT`` record of ``event`` (reasons written for the fired rules)."""
    ids = blacklisted_ids(event.customer_id, event.card_id, event.store_id, config.blacklist)
    return Assessment(
        FeatureVector(*(float(signals[name]) for name in FEATURE_NAMES)),
        rule_results(signals, event.currency, ids, config),
        float(signals["rules_score"]),
    )


def process_event(state: CustomerState | None, event: Event, config: RulesConfig) -> tuple[Assessment, CustomerState]:
    """Assess one event against the customer's state, then fold it in (the given state is not changed).

    Args:
        state: The customer's state before the event (``None`` for a new customer).
        event: The parsed event.
        config: Rule thresholds.

    Returns:
        The assessment (features, rule results, rules score) and the new state.

    """
    after = CustomerState() if state is None else state.copy()
    events = np.array([event_input_of(event, config)], dtype=EVENT_INPUT)
    out = np.zeros(1, dtype=ASSESSMENT)
    step(after.record[0], events[0], rule_params(config)[0], out[0])
    return assessment_of(out[0], event, config), after


def replay_events(events: Iterable[Event], config: RulesConfig) -> Iterator[tuple[Event, Assessment]]:
    """Assess events one by one, keeping one state per customer, as the stream does.

    Args:
        events: Events in the order the stream would process them (event-time order,
            ties in arrival order); this function does not reorder them.
        config: Rule thresholds.

    Yields:
        Each event with its assessment.

    """
    ordered = list(events)
    customers: dict[str, int] = {}
    index = np.array([customers.setdefault(event.customer_id, len(customers)) for event in ordered], dtype=np.int64)
    inputs = np.array([event_input_of(event, config) for event in ordered], dtype=EVENT_INPUT)
    out = replay(inputs, index, len(customers), rule_params(config))
    for event, signals in zip(ordered, out, strict=True):
        yield event, assessment_of(signals, event, config)


def assessments_table(out: NDArray[Any]) -> dict[str, NDArray[Any]]:
    """The features, each rule's verdict and the rules score of ``replay``'s output, by column name."""
    return {name: out[name] for name in (*FEATURE_NAMES, *RULE_NAMES, "rules_score")}
