"""Legit transactions: diurnal activity and log-normal amounts per customer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from streamflow.generator.world import CHANNEL_PROBABILITIES, CHANNELS, World

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
DEVICE_JITTER_DEGREES = 0.01


def draw_legit_events(rng: np.random.Generator, world: World, *, n: int, start_ms: int, days: int) -> pd.DataFrame:
    """Draw ``n`` legit events, sorted by event time.

    Returns:
        Columns: customer, card_number, store, product, amount, currency, event_time_ms,
        utc_offset_hours, latitude, longitude, channel, pattern (``"none"``).

    """
    customers = world.customers
    activity = customers["activity"].to_numpy()
    customer = rng.choice(len(customers), n, p=activity / activity.sum())
    hour = (
        customers["peak_hour"].to_numpy()[customer]
        + rng.normal(0, 1, n) * customers["hour_spread"].to_numpy()[customer]
    ) % 24
    offset = customers["utc_offset_hours"].to_numpy()[customer]
    local_ms = start_ms + rng.integers(0, days, n) * DAY_MS + (hour * HOUR_MS).astype(np.int64)
    event_time_ms = (local_ms - offset * HOUR_MS) // SECOND_MS * SECOND_MS
    amount = rng.lognormal(customers["amount_mu"].to_numpy()[customer], customers["amount_sigma"].to_numpy()[customer])
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_PROBABILITIES)
    store = _pick_stores(rng, world, customers["city"].to_numpy()[customer], channel)
    in_person = np.isin(channel, [CHANNELS.index("pos"), CHANNELS.index("atm")])
    home_lat = customers["latitude"].to_numpy()[customer] + rng.normal(0, DEVICE_JITTER_DEGREES, n)
    home_lon = customers["longitude"].to_numpy()[customer] + rng.normal(0, DEVICE_JITTER_DEGREES, n)
    frame = pd.DataFrame(
        {
            "customer": customer,
            "card_number": rng.integers(0, customers["n_cards"].to_numpy()[customer]) + 1,
            "store": store,
            "product": (world.n_products * rng.random(n) ** 2).astype(np.int64),
            "amount": np.maximum(np.round(amount, 2), 0.5),
            "currency": customers["currency"].to_numpy()[customer],
            "event_time_ms": event_time_ms,
            "utc_offset_hours": offset,
            "latitude": np.where(in_person, world.stores["latitude"].to_numpy()[store], home_lat),
            "longitude": np.where(in_person, world.stores["longitude"].to_numpy()[store], home_lon),
            "channel": np.asarray(CHANNELS, dtype=object)[channel],
            "pattern": "none",
        }
    )
    return sort_events(frame)


def sort_events(frame: pd.DataFrame) -> pd.DataFrame:
    """Events in event-time order (stable for equal times), with a fresh index."""
    return frame.sort_values("event_time_ms", kind="stable", ignore_index=True)


def _pick_stores(rng: np.random.Generator, world: World, city: NDArray[Any], channel: NDArray[Any]) -> NDArray[Any]:
    """In-person payments go to a store of the home city, online ones to any legit store."""
    legit_stores = np.flatnonzero(~world.stores["blacklisted"].to_numpy())
    store = legit_stores[rng.integers(0, len(legit_stores), len(city))]
    in_person = np.isin(channel, [CHANNELS.index("pos"), CHANNELS.index("atm")])
    for city_index in np.unique(city):
        local = world.stores_in_city(int(city_index))
        if len(local) == 0:
            continue
        chosen = np.flatnonzero((city == city_index) & in_person)
        store[chosen] = local[rng.integers(0, len(local), len(chosen))]
    return store
