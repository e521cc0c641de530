"""Test factories: valid contract payloads and parsed events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from streamflow.core import Event, parse_event

BASE_TIME = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def payload(**overrides: Any) -> dict[str, Any]:
    """A valid contract payload with fields replaced by ``overrides``."""
    record: dict[str, Any] = {
        "schema_version": 1,
        "transaction_id": "tx-1",
        "customer_id": "C1",
        "card_id": "K1",
        "store_id": "S1",
        "product_id": "P1",
        "amount": 42.5,
        "currency": "EUR",
        "timestamp": BASE_TIME.isoformat(),
        "latitude": 48.8566,
        "longitude": 2.3522,
        "channel": "pos",
    }
    record.update(overrides)
    return record


def make_event(minutes: float = 0.0, **overrides: Any) -> Event:
    """A parsed event ``minutes`` after ``BASE_TIME`` (UTC) with ``overrides``."""
    overrides.setdefault("timestamp", (BASE_TIME + timedelta(minutes=minutes)).isoformat())
    overrides.setdefault("transaction_id", f"tx-{minutes}")
    return parse_event(json.dumps(payload(**overrides)))
