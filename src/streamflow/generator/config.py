"""Typed configuration of the labelled event generator (the ``generate`` parameters block)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from streamflow.core.config import build_dataclass
from streamflow.core.errors import ConfigError

FRAUD_PATTERNS: tuple[str, ...] = (  # injected next to a customer's history, by weight
    "high_value",
    "velocity_burst",
    "impossible_travel",
    "unusual_hour",
    "blacklisted",
    "subtle",
    "compromised_card",
)
COMPROMISED_MERCHANT = "compromised_merchant"  # not injected: existing payments at a store, relabelled
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
        compromised_merchants: Stores whose card-present payments are all fraud for
            ``compromise_days`` days each (a skimmed terminal).
        compromise_days: How long a compromised store stays compromised.
        outcome_sources: Share of fraud reported by each source (``confirmed``: within hours to
            days; ``chargeback``: days to weeks); the rest is never reported.
        chargeback_median_days: Median delay of a chargeback (log-normal, 1 to 60 days).
        cleared_rate: Share of legit payments that get a ``cleared`` outcome (a dispute closed
            in the customer's favour) within days.
        outcomes_known_on: ISO date (UTC midnight) of the outcome feed written: outcomes that
            become known later are left out; ``None``: today.
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
    compromised_merchants: int = 4
    compromise_days: int = 14
    outcome_sources: Mapping[str, float] = field(default_factory=lambda: {"confirmed": 0.3, "chargeback": 0.6})
    chargeback_median_days: float = 9.0
    cleared_rate: float = 0.005
    outcomes_known_on: str | None = None
    blacklisted_store_ids: tuple[str, ...] = ()

    @property
    def customers(self) -> int:
        """Number of customers to create."""
        return self.n_customers or max(1, self.n_events // 50)

    @property
    def outcomes_known_at(self) -> date:
        """The day (UTC midnight) the outcome feed is written at: ``outcomes_known_on``, or today."""
        if self.outcomes_known_on is None:
            return datetime.now(UTC).date()
        return date.fromisoformat(self.outcomes_known_on)

    @property
    def first_day(self) -> date:
        """``start_date`` as a date, or ``days`` days before the day before yesterday (UTC).

        The last local day then ends 16 to 37 hours before today began in UTC (the cities lie 8
        hours behind to 13 ahead of UTC): recent enough for freshness. Fraud incidents that start
        near the end may run on to the end of yesterday (UTC), never later than now.
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
    unknown_sources = sorted(set(config.outcome_sources) - {"confirmed", "chargeback"})
    if unknown_sources or not 0.0 <= sum(config.outcome_sources.values()) <= 1.0:
        raise ConfigError(
            "generate.outcome_sources: shares of confirmed and chargeback adding up to at most 1, got "
            f"{dict(config.outcome_sources)}"
        )
    if config.compromised_merchants < 0 or config.compromise_days < 1 or not 0.0 <= config.cleared_rate < 0.5:
        raise ConfigError("generate: compromised_merchants >= 0, compromise_days >= 1, cleared_rate in [0, 0.5)")
    for key in ("start_date", "outcomes_known_on"):
        value = getattr(config, key)
        try:
            date.fromisoformat(value) if value is not None else None
        except ValueError as exc:
            raise ConfigError(f"generate.{key} is not an ISO date: {value!r}", key=f"generate.{key}") from exc
