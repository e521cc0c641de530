"""Fraud injection: labelled events added next to a customer's real history.

Each pattern draws anchor events (a customer's legit event after at least
``min_history`` earlier ones) and adds fraud events shaped after it:

- ``high_value``: one payment 8-25 times the customer's mean amount.
- ``velocity_burst``: 7-10 online payments within 6 minutes.
- ``impossible_travel``: an in-person payment in a city over 3,000 km away, 10-90 min later.
- ``unusual_hour``: a payment about 12 hours from the customer's peak hour.
- ``blacklisted``: an online payment at a blacklisted store.
- ``subtle``: amount 2-3 std above the mean, 4-5 h from the peak hour and 150-400 km
  from home at once; each feature alone stays below every rule's threshold.
- ``compromised_card``: a fraudster's card-not-present payments, 3-6 times the owner's mean
  amount, spread over the 14 days after the theft at the owner's usual hours, mixed with the
  owner's own payments (the Fraud Detection Handbook's scenario 3).

``compromised_merchant`` is not injected: :func:`compromise_merchants` relabels every
card-present payment at a few stores for some days as fraud (a skimmed terminal, the Handbook's
scenario 2): the payments look like any other, only the store gives them away.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from streamflow.generator.config import COMPROMISED_MERCHANT, FRAUD_PATTERNS
from streamflow.generator.events import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from streamflow.generator.world import CHANNELS, World

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = 111.2
FAR_CITY_KM = 3000.0
BURST_LENGTHS = (7, 11)  # [low, high) events per velocity burst
CARD_FRAUD_EVENTS = (2, 7)  # [low, high) fraudster payments per compromised card
CARD_FRAUD_DAYS = 14
CARD_PRESENT = ("pos", "atm")


def pattern_quotas(rng: np.random.Generator, n_fraud: int, weights: dict[str, float]) -> dict[str, int]:
    """Split ``n_fraud`` events over the patterns by weight (counts add up exactly)."""
    names = [name for name in FRAUD_PATTERNS if weights.get(name, 0.0) > 0]
    if not names or n_fraud == 0:
        return dict.fromkeys(FRAUD_PATTERNS, 0)
    share = np.array([weights[name] for name in names], dtype=float)
    counts = rng.multinomial(n_fraud, share / share.sum())
    quotas = dict.fromkeys(FRAUD_PATTERNS, 0)
    quotas.update(zip(names, counts.tolist(), strict=True))
    return quotas


def inject_fraud(
    rng: np.random.Generator,
    world: World,
    legit: pd.DataFrame,
    quotas: dict[str, int],
    *,
    min_history: int,
    blacklisted_store_ids: tuple[str, ...],
    time_bounds_ms: tuple[int, int],
) -> pd.DataFrame:
    """Fraud events for each pattern's quota, in the columns of ``legit``.

    Args:
        rng: Random generator.
        world: The world the legit events came from.
        legit: Legit events sorted by time.
        quotas: Fraud events wanted per pattern.
        min_history: Past events an anchor's customer must have.
        blacklisted_store_ids: Store ids for the ``blacklisted`` pattern.
        time_bounds_ms: Event times are clipped into ``[start, end)``.

    """
    rank = legit.groupby("customer").cumcount().to_numpy()
    eligible = np.flatnonzero(rank >= min_history)
    if len(eligible) == 0:
        eligible = np.arange(len(legit))
    makers: dict[str, Callable[[NDArray[Any]], pd.DataFrame]] = {
        "high_value": lambda a: _high_value(rng, world, legit.iloc[a]),
        "velocity_burst": lambda a: _velocity_burst(rng, legit.iloc[a], quotas["velocity_burst"]),
        "impossible_travel": lambda a: _impossible_travel(rng, world, legit.iloc[a]),
        "unusual_hour": lambda a: _unusual_hour(rng, world, legit.iloc[a]),
        "blacklisted": lambda a: _blacklisted(rng, world, legit.iloc[a], blacklisted_store_ids),
        "subtle": lambda a: _subtle(rng, world, legit.iloc[a]),
        "compromised_card": lambda a: _compromised_card(rng, world, legit.iloc[a], quotas["compromised_card"]),
    }
    parts = []
    for pattern in FRAUD_PATTERNS:
        quota = quotas.get(pattern, 0)
        if quota == 0 or (pattern == "blacklisted" and not blacklisted_store_ids):
            continue
        per_incident = {"velocity_burst": BURST_LENGTHS[0], "compromised_card": CARD_FRAUD_EVENTS[0]}.get(pattern, 1)
        incidents = -(-quota // per_incident)
        anchors = eligible[rng.integers(0, len(eligible), incidents)]
        parts.append(makers[pattern](anchors).assign(pattern=pattern))
    if not parts:
        return legit.iloc[:0].copy()
    fraud = pd.concat(parts, ignore_index=True)
    start, end = time_bounds_ms
    return fraud.assign(event_time_ms=fraud["event_time_ms"].clip(start, end - SECOND_MS))


def _after(rng: np.random.Generator, anchors: pd.DataFrame, low_min: float, high_min: float) -> NDArray[Any]:
    delay = rng.uniform(low_min, high_min, len(anchors)) * MINUTE_MS
    return (anchors["event_time_ms"].to_numpy() + delay.astype(np.int64)) // SECOND_MS * SECOND_MS


def _customer_amount_moments(world: World, customer: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    mu = world.customers["amount_mu"].to_numpy()[customer]
    sigma = world.customers["amount_sigma"].to_numpy()[customer]
    mean = np.exp(mu + sigma**2 / 2)
    return mean, mean * np.sqrt(np.expm1(sigma**2))


def _home(world: World, customer: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    return world.customers["latitude"].to_numpy()[customer], world.customers["longitude"].to_numpy()[customer]


def _at_local_hour(world: World, anchors: pd.DataFrame, local_hour: NDArray[Any]) -> NDArray[Any]:
    """UTC event times on the anchor's local day, at ``local_hour`` local time."""
    offset_ms = world.customers["utc_offset_hours"].to_numpy()[anchors["customer"].to_numpy()] * HOUR_MS
    local_day = (anchors["event_time_ms"].to_numpy() + offset_ms) // DAY_MS * DAY_MS
    local_ms = local_day + (local_hour % 24 * HOUR_MS).astype(np.int64)
    utc_ms: NDArray[Any] = (local_ms - offset_ms) // SECOND_MS * SECOND_MS
    return utc_ms


def _high_value(rng: np.random.Generator, world: World, anchors: pd.DataFrame) -> pd.DataFrame:
    mean, _ = _customer_amount_moments(world, anchors["customer"].to_numpy())
    return anchors.assign(
        event_time_ms=_after(rng, anchors, 5, 180),
        amount=np.round(mean * rng.uniform(8, 25, len(anchors)), 2),
    )


def _velocity_burst(rng: np.random.Generator, anchors: pd.DataFrame, quota: int) -> pd.DataFrame:
    lengths = rng.integers(*BURST_LENGTHS, len(anchors))
    repeated = anchors.iloc[np.repeat(np.arange(len(anchors)), lengths)].iloc[:quota]
    start = np.repeat(_after(rng, anchors, 30, 240), lengths)[:quota]
    offsets = rng.uniform(0, 6, len(repeated)) * MINUTE_MS
    return repeated.assign(
        event_time_ms=(start + offsets.astype(np.int64)) // SECOND_MS * SECOND_MS,
        amount=np.round(repeated["amount"].to_numpy() * rng.uniform(0.3, 1.2, len(repeated)), 2),
        channel="online",
    ).reset_index(drop=True)


def _impossible_travel(rng: np.random.Generator, world: World, anchors: pd.DataFrame) -> pd.DataFrame:
    home_city = world.customers["city"].to_numpy()[anchors["customer"].to_numpy()]
    distance = _city_distances_km(world)
    far_city = np.array([rng.choice(np.flatnonzero(distance[city] > FAR_CITY_KM)) for city in home_city])
    store = np.array([_random_store_in(rng, world, int(city)) for city in far_city], dtype=np.int64)
    return anchors.assign(
        event_time_ms=_after(rng, anchors, 10, 90),
        store=store,
        latitude=world.city_latitude[far_city] + rng.normal(0, 0.02, len(anchors)),
        longitude=world.city_longitude[far_city] + rng.normal(0, 0.02, len(anchors)),
        channel="pos",
        amount=np.round(anchors["amount"].to_numpy() * rng.uniform(1, 3, len(anchors)), 2),
    )


def _random_store_in(rng: np.random.Generator, world: World, city: int) -> int:
    """A legit store of ``city``, or any store when the city has none."""
    local = world.stores_in_city(city)
    return int(rng.choice(local)) if len(local) else int(rng.integers(0, len(world.stores)))


def _unusual_hour(rng: np.random.Generator, world: World, anchors: pd.DataFrame) -> pd.DataFrame:
    peak = world.customers["peak_hour"].to_numpy()[anchors["customer"].to_numpy()]
    return anchors.assign(
        event_time_ms=_at_local_hour(world, anchors, peak + 12 + rng.uniform(-1, 1, len(anchors))),
        amount=np.round(anchors["amount"].to_numpy() * rng.uniform(1, 2.5, len(anchors)), 2),
        channel="online",
    )


def _blacklisted(
    rng: np.random.Generator, world: World, anchors: pd.DataFrame, store_ids: tuple[str, ...]
) -> pd.DataFrame:
    customer = anchors["customer"].to_numpy()
    lat, lon = _home(world, customer)
    return anchors.assign(
        event_time_ms=_after(rng, anchors, 5, 240),
        store=-1,
        store_id=np.asarray(store_ids, dtype=object)[rng.integers(0, len(store_ids), len(anchors))],
        latitude=lat + rng.normal(0, 0.01, len(anchors)),
        longitude=lon + rng.normal(0, 0.01, len(anchors)),
        channel="online",
        amount=np.round(anchors["amount"].to_numpy() * rng.uniform(1, 3, len(anchors)), 2),
    )


def _subtle(rng: np.random.Generator, world: World, anchors: pd.DataFrame) -> pd.DataFrame:
    customer = anchors["customer"].to_numpy()
    n = len(anchors)
    mean, std = _customer_amount_moments(world, customer)
    peak = world.customers["peak_hour"].to_numpy()[customer]
    shift = rng.uniform(4.0, 5.0, n) * rng.choice([-1.0, 1.0], n)
    distance_km = rng.uniform(150, 400, n)
    bearing = rng.uniform(0, 2 * np.pi, n)
    lat, lon = _home(world, customer)
    new_lat = np.clip(lat + distance_km / KM_PER_DEGREE * np.cos(bearing), -89.0, 89.0)
    new_lon = lon + distance_km / (KM_PER_DEGREE * np.cos(np.radians(lat))) * np.sin(bearing)
    return anchors.assign(
        event_time_ms=_at_local_hour(world, anchors, peak + shift),
        amount=np.round(mean + std * rng.uniform(2.0, 3.0, n), 2),
        latitude=new_lat,
        longitude=(new_lon + 180.0) % 360.0 - 180.0,
        channel=np.asarray(CHANNELS, dtype=object)[rng.choice([1, 2], n)],
    )


def _compromised_card(rng: np.random.Generator, world: World, anchors: pd.DataFrame, quota: int) -> pd.DataFrame:
    counts = rng.integers(*CARD_FRAUD_EVENTS, len(anchors))
    repeated = anchors.iloc[np.repeat(np.arange(len(anchors)), counts)].iloc[:quota].reset_index(drop=True)
    customer = repeated["customer"].to_numpy()
    n = len(repeated)
    mean, _ = _customer_amount_moments(world, customer)
    peak = world.customers["peak_hour"].to_numpy()[customer]
    spread = world.customers["hour_spread"].to_numpy()[customer]
    days_later = rng.integers(0, CARD_FRAUD_DAYS, n) * DAY_MS
    usual_hour = _at_local_hour(world, repeated, peak + rng.normal(0, 1, n) * spread)
    lat, lon = _home(world, customer)
    legit_stores = np.flatnonzero(~world.stores["blacklisted"].to_numpy())
    return repeated.assign(
        event_time_ms=np.maximum(usual_hour + days_later, repeated["event_time_ms"].to_numpy() + MINUTE_MS),
        amount=np.round(mean * rng.uniform(3, 6, n), 2),
        store=legit_stores[rng.integers(0, len(legit_stores), n)],
        latitude=lat + rng.normal(0, 0.01, n),
        longitude=lon + rng.normal(0, 0.01, n),
        channel=np.asarray(CHANNELS, dtype=object)[rng.choice([1, 2], n)],
    )


def compromise_merchants(
    rng: np.random.Generator, world: World, events: pd.DataFrame, *, stores: int, days: int
) -> pd.DataFrame:
    """``events`` with every card-present payment at ``stores`` compromised stores relabelled as fraud.

    Each store is compromised for ``days`` days from a random day of the stream: all its ``pos``
    and ``atm`` payments then are ``compromised_merchant`` fraud. The stores are drawn among the
    legit stores with card-present payments, busiest first weighted, so that each has some.
    """
    present = events["channel"].isin(CARD_PRESENT).to_numpy() & (events["store"].to_numpy() >= 0)
    traffic = np.bincount(events["store"].to_numpy()[present], minlength=len(world.stores)).astype(float)
    traffic[world.stores["blacklisted"].to_numpy()] = 0.0
    if stores == 0 or traffic.sum() == 0:
        return events
    chosen = rng.choice(len(traffic), min(stores, int((traffic > 0).sum())), replace=False, p=traffic / traffic.sum())
    times = events["event_time_ms"].to_numpy()
    start = rng.integers(times.min(), max(times.min() + 1, times.max() - days * DAY_MS), len(chosen))
    pattern = events["pattern"].to_numpy().copy()
    for store, begin in zip(chosen.tolist(), start.tolist(), strict=True):
        hit = present & (events["store"].to_numpy() == store) & (times >= begin) & (times < begin + days * DAY_MS)
        pattern[hit & (pattern == "none")] = COMPROMISED_MERCHANT
    return events.assign(pattern=pattern)


def _city_distances_km(world: World) -> NDArray[Any]:
    lat = np.radians(world.city_latitude)
    lon = np.radians(world.city_longitude)
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    distances: NDArray[Any] = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))
    return distances
