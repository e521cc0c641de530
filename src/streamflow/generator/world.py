"""The synthetic world: cities, customers, stores and products (vectorised with numpy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

# name, latitude, longitude, UTC offset in hours (January), currency
CITIES: tuple[tuple[str, float, float, int, str], ...] = (
    ("London", 51.5074, -0.1278, 0, "GBP"),
    ("Dublin", 53.3498, -6.2603, 0, "EUR"),
    ("Lisbon", 38.7223, -9.1393, 0, "EUR"),
    ("Paris", 48.8566, 2.3522, 1, "EUR"),
    ("Berlin", 52.5200, 13.4050, 1, "EUR"),
    ("Madrid", 40.4168, -3.7038, 1, "EUR"),
    ("Rome", 41.9028, 12.4964, 1, "EUR"),
    ("Amsterdam", 52.3676, 4.9041, 1, "EUR"),
    ("Vienna", 48.2082, 16.3738, 1, "EUR"),
    ("Zurich", 47.3769, 8.5417, 1, "CHF"),
    ("New York", 40.7128, -74.0060, -5, "USD"),
    ("Miami", 25.7617, -80.1918, -5, "USD"),
    ("Chicago", 41.8781, -87.6298, -6, "USD"),
    ("San Francisco", 37.7749, -122.4194, -8, "USD"),
    ("Toronto", 43.6532, -79.3832, -5, "CAD"),
    ("Vancouver", 49.2827, -123.1207, -8, "CAD"),
    ("Singapore", 1.3521, 103.8198, 8, "SGD"),
    ("Sydney", -33.8688, 151.2093, 11, "AUD"),
    ("Auckland", -36.8485, 174.7633, 13, "NZD"),
)
CHANNELS: tuple[str, ...] = ("pos", "online", "mobile", "atm")
CHANNEL_PROBABILITIES: tuple[float, ...] = (0.55, 0.25, 0.15, 0.05)
LOCATION_JITTER_DEGREES = 0.05
MAX_CARDS = 2


@dataclass(frozen=True)
class World:
    """Column arrays describing everything events are drawn from.

    ``customers`` columns: city, latitude, longitude, utc_offset_hours, currency,
    amount_mu, amount_sigma, activity, peak_hour, hour_spread, n_cards.
    ``stores`` columns: store_id, city, latitude, longitude, blacklisted.
    """

    customers: pd.DataFrame
    stores: pd.DataFrame
    n_products: int
    city_latitude: NDArray[Any]
    city_longitude: NDArray[Any]

    def stores_in_city(self, city: int) -> NDArray[Any]:
        """Indices of the legit (non-blacklisted) stores of a city."""
        stores = self.stores
        return np.flatnonzero((stores["city"].to_numpy() == city) & ~stores["blacklisted"].to_numpy())


def build_world(
    rng: np.random.Generator,
    *,
    n_customers: int,
    n_stores: int,
    n_products: int,
    blacklisted_store_ids: tuple[str, ...],
) -> World:
    """Draw customers (home city, spending and activity profile) and stores."""
    city_lat = np.array([city[1] for city in CITIES])
    city_lon = np.array([city[2] for city in CITIES])
    city_offset = np.array([city[3] for city in CITIES])
    city_currency = np.array([city[4] for city in CITIES])
    home = rng.integers(0, len(CITIES), n_customers)
    customers = pd.DataFrame(
        {
            "city": home,
            "latitude": city_lat[home] + rng.normal(0, LOCATION_JITTER_DEGREES, n_customers),
            "longitude": city_lon[home] + rng.normal(0, LOCATION_JITTER_DEGREES, n_customers),
            "utc_offset_hours": city_offset[home],
            "currency": city_currency[home],
            "amount_mu": rng.normal(3.6, 0.6, n_customers),
            "amount_sigma": rng.uniform(0.35, 0.75, n_customers),
            "activity": rng.lognormal(0.0, 0.8, n_customers),
            "peak_hour": np.clip(rng.normal(14.5, 2.5, n_customers), 8.0, 21.0),
            "hour_spread": rng.uniform(1.5, 3.0, n_customers),
            "n_cards": rng.integers(1, MAX_CARDS + 1, n_customers),
        }
    )
    store_city = np.arange(n_stores) % len(CITIES)
    rng.shuffle(store_city)
    store_ids = np.array([f"S{index:05d}" for index in range(n_stores)])
    stores = pd.DataFrame(
        {
            "store_id": store_ids,
            "city": store_city,
            "latitude": city_lat[store_city] + rng.normal(0, LOCATION_JITTER_DEGREES, n_stores),
            "longitude": city_lon[store_city] + rng.normal(0, LOCATION_JITTER_DEGREES, n_stores),
            "blacklisted": np.isin(store_ids, list(blacklisted_store_ids)),
        }
    )
    return World(customers, stores, n_products, city_lat, city_lon)


def customer_ids(n_customers: int) -> NDArray[Any]:
    """Stable customer ids, indexed by customer index."""
    return np.array([f"C{index:07d}" for index in range(n_customers)], dtype=object)


def card_ids(n_customers: int, max_cards: int) -> NDArray[Any]:
    """Stable card ids, indexed by ``[customer index, card number - 1]``."""
    return np.array(
        [[f"K{customer:07d}-{card}" for card in range(1, max_cards + 1)] for customer in range(n_customers)],
        dtype=object,
    ).reshape(n_customers, max_cards)


def product_ids(n_products: int) -> NDArray[Any]:
    """Stable product ids, indexed by product index."""
    return np.array([f"P{index:05d}" for index in range(n_products)], dtype=object)
