"""What the core computes for one event before the model: its signals and the rules' verdicts.

:func:`assess` reads the customer's state *before* the event and writes a ``SIGNALS`` record:
the numbers the rules read (z-score, velocity, distance and speed, hour deviation and share,
blacklist), the rules' verdicts and the rules score (``rules.evaluate_rules``). The model's
features (``core.features``) read the same record. An event enters as an ``EVENT_INPUT`` record
(:func:`event_input`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from streamflow.core.compiled import compiled
from streamflow.core.contract import Event
from streamflow.core.geo import haversine_km, speed_kmh
from streamflow.core.rules import RULE_NAMES, RulesConfig, blacklisted_ids, circular_hour_distance, evaluate_rules
from streamflow.core.state import HOURS_PER_DAY, sample_std

_HOUR_ANGLES = np.array([2.0 * math.pi * (hour + 0.5) / HOURS_PER_DAY for hour in range(HOURS_PER_DAY)])
HOUR_COS = np.cos(_HOUR_ANGLES)
HOUR_SIN = np.sin(_HOUR_ANGLES)
MIN_RESULTANT = 1e-9  # an hour profile whose mean vector is shorter has no typical hour
_MS_PER_MINUTE = 60_000
_MS_PER_HOUR = 3_600_000
_MS_PER_DAY = 86_400_000

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
    ],
    align=True,
)

# What the step concludes about one event before the model: the signals the rules, their reasons
# and the built-in features read, then each rule's verdict (named as in RULES) and the rules score.
SIGNALS = np.dtype(
    [
        ("amount_zscore", np.float64),
        ("velocity_count", np.float64),
        ("time_deviation", np.float64),
        ("geo_speed_kmh", np.float64),
        ("is_blacklisted", np.float64),
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
    ],
    align=True,
)


@compiled
def assess(state: Any, event: Any, params: Any, out: Any) -> None:
    """The signals and the rules' verdicts of ``event``, from the customer's ``state`` before it."""
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
