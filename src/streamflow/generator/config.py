"""Typed configuration of the labelled event generator (the ``generate`` parameters block)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from streamflow.core.config import build_dataclass
from streamflow.core.errors import ConfigError

FRAUD_PATTERNS: tuple[str, ...] = (
    "high_value",
    "velocity_burst",
    "impossible_travel",
    "unusual_hour",
    "blacklisted",
    "subtle",
)
MALFORMED_KINDS: tuple[str, ...] = (
    "broken_json",
    "missing_field",
    "null_field",
    "wrong_type",
    "negative_amount",
    "absurd_amount",
    "bad_coordinates",
    "bad_timestamp",
    "naive_timestamp",
    "bad_channel",
    "bad_currency",
    "oversized_payload",
    "duplicate_id",
)


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    """Sizes, rates and randomness of one generation run.

    Attributes:
        seed: Seed of the random generator; the same config gives the same bytes.
        n_events: Valid events to generate (fraud included, malformed lines excluded).
        n_customers: Customers; ``0`` means one per 50 events.
        n_stores: Stores, spread over the cities.
        n_products: Products.
        start_date: First day (local calendar of each customer), ISO date; ``None``: the stream
            ends two days before today (UTC), so that it is fresh and no event lies in the future.
        days: Number of days covered.
        fraud_rate: Share of valid events that are fraud.
        pattern_weights: Relative frequency of each fraud pattern.
        malformed_rate: Malformed lines added, as a share of ``n_events``.
        min_history_for_fraud: Past events a customer needs before fraud is injected.
        blacklisted_store_ids: Stores the ``blacklisted`` pattern uses (never used by legit events).

    """

    seed: int = 42
    n_events: int = 100_000
    n_customers: int = 0
    n_stores: int = 500
    n_products: int = 200
    start_date: str | None = None
    days: int = 28
    fraud_rate: float = 0.015
    pattern_weights: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(FRAUD_PATTERNS, 1.0))
    malformed_rate: float = 0.005
    min_history_for_fraud: int = 8
    blacklisted_store_ids: tuple[str, ...] = ()

    @property
    def customers(self) -> int:
        """Number of customers to create."""
        return self.n_customers or max(1, self.n_events // 50)

    @property
    def first_day(self) -> date:
        """``start_date`` as a date, or ``days`` days before the day before yesterday (UTC).

        The last local day then ends at most about 36 hours ago in UTC (local days run up to 14
        hours behind UTC): recent enough for freshness, never later than now.
        """
        if self.start_date is None:
            return datetime.now(UTC).date() - timedelta(days=self.days + 1)
        return date.fromisoformat(self.start_date)

    @classmethod
    def from_dict(cls, block: Mapping[str, Any], blacklisted_store_ids: list[str] | None = None) -> GeneratorConfig:
        """Build from the ``generate`` block, taking blacklisted stores from the rules' blacklist."""
        values = dict(block)
        if blacklisted_store_ids is not None:
            values["blacklisted_store_ids"] = tuple(blacklisted_store_ids)
        config = build_dataclass(cls, values, path="generate")
        _validate(config)
        return config


def _validate(config: GeneratorConfig) -> None:
    unknown = sorted(set(config.pattern_weights) - set(FRAUD_PATTERNS))
    if unknown:
        raise ConfigError(f"generate.pattern_weights: unknown patterns {unknown}; known: {list(FRAUD_PATTERNS)}")
    if config.n_events < 1 or config.days < 1 or config.n_stores < 1 or config.n_products < 1:
        raise ConfigError("generate: n_events, days, n_stores and n_products must be >= 1")
    if not 0.0 <= config.fraud_rate < 0.5 or not 0.0 <= config.malformed_rate < 0.5:
        raise ConfigError("generate: fraud_rate and malformed_rate must be within [0, 0.5)")
    try:
        config.first_day  # noqa: B018 - validates the ISO date
    except ValueError as exc:
        raise ConfigError(f"generate.start_date is not an ISO date: {config.start_date!r}") from exc
