"""Malformed lines of every kind the event parser knows, with the code each must get."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from streamflow.core.contract import REQUIRED_FIELDS as REQUIRED

DUPLICATE_CODE = "duplicate_transaction_id"
EXPECTED_CODES: dict[str, str] = {
    "broken_json": "invalid_json",
    "missing_field": "missing_field",
    "null_field": "missing_field",
    "wrong_type": "bad_type",
    "negative_amount": "out_of_range",
    "absurd_amount": "out_of_range",
    "bad_coordinates": "out_of_range",
    "bad_timestamp": "bad_timestamp",
    "naive_timestamp": "bad_timestamp",
    "bad_channel": "bad_value",
    "bad_currency": "bad_value",
    "oversized_payload": "payload_too_large",
    "duplicate_id": DUPLICATE_CODE,
}
_BAD_TIMESTAMPS = ("2026-13-45T25:61:00+00:00", "yesterday at noon", "31/01/2026 10:00", "")
_WRONG_TYPES: tuple[tuple[str, Any], ...] = (
    ("amount", "12.50"),
    ("latitude", "51.5"),
    ("schema_version", "1"),
    ("customer_id", 12345),
    ("timestamp", 1767225600),
    ("channel", ["pos"]),
)


def malformed_line(kind: str, record: dict[str, Any], rng: np.random.Generator, *, oversized_bytes: int) -> str:
    """One malformed line of ``kind`` made from a valid ``record`` (not changed).

    ``duplicate_id`` lines are made by the caller (an exact copy of an earlier line).
    """
    return _MAKERS[kind](dict(record), rng, oversized_bytes)


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


def _broken_json(record: dict[str, Any], rng: np.random.Generator, _: int) -> str:
    text = _dump(record)
    return text[: int(rng.integers(1, len(text) - 1))]


def _missing_field(record: dict[str, Any], rng: np.random.Generator, _: int) -> str:
    del record[REQUIRED[int(rng.integers(0, len(REQUIRED)))]]
    return _dump(record)


def _null_field(record: dict[str, Any], rng: np.random.Generator, _: int) -> str:
    record[REQUIRED[int(rng.integers(0, len(REQUIRED)))]] = None
    return _dump(record)


def _wrong_type(record: dict[str, Any], rng: np.random.Generator, _: int) -> str:
    field, value = _WRONG_TYPES[int(rng.integers(0, len(_WRONG_TYPES)))]
    record[field] = value
    return _dump(record)


def _negative_amount(record: dict[str, Any], rng: np.random.Generator, _: int) -> str:
    record["amount"] = -round(float(rng.uniform(1, 500)), 2) if rng.random() < 0.8 else 0
    return _dump(record)


def _absurd_amount(record: dict[str, Any], rng: np.random.Generator, _: int) -> str:
    record["amount"] = float(10 ** rng.integers(7, 15))
    return _dump(record)


def _bad_coordinates(record: dict[str, Any], rng: np.random.Generator, _: int) -> str:
    if rng.random() < 0.5:
        record["latitude"] = round(float(rng.uniform(90.5, 400)), 4) * float(rng.choice([-1, 1]))
    else:
        record["longitude"] = round(float(rng.uniform(180.5, 720)), 4) * float(rng.choice([-1, 1]))
    return _dump(record)


def _bad_timestamp(record: dict[str, Any], rng: np.random.Generator, _: int) -> str:
    record["timestamp"] = _BAD_TIMESTAMPS[int(rng.integers(0, len(_BAD_TIMESTAMPS)))]
    return _dump(record)


def _naive_timestamp(record: dict[str, Any], _rng: np.random.Generator, _: int) -> str:
    record["timestamp"] = str(record["timestamp"])[:19]
    return _dump(record)


def _bad_channel(record: dict[str, Any], rng: np.random.Generator, _: int) -> str:
    record["channel"] = str(rng.choice(["fax", "POS", "carrier-pigeon", ""]))
    return _dump(record)


def _bad_currency(record: dict[str, Any], rng: np.random.Generator, _: int) -> str:
    record["currency"] = str(rng.choice(["euro", "usd", "XYZ", "$"]))
    return _dump(record)


def _oversized_payload(record: dict[str, Any], _rng: np.random.Generator, oversized_bytes: int) -> str:
    record["notes"] = "x" * oversized_bytes
    return _dump(record)


_MAKERS: dict[str, Callable[[dict[str, Any], np.random.Generator, int], str]] = {
    "broken_json": _broken_json,
    "missing_field": _missing_field,
    "null_field": _null_field,
    "wrong_type": _wrong_type,
    "negative_amount": _negative_amount,
    "absurd_amount": _absurd_amount,
    "bad_coordinates": _bad_coordinates,
    "bad_timestamp": _bad_timestamp,
    "naive_timestamp": _naive_timestamp,
    "bad_channel": _bad_channel,
    "bad_currency": _bad_currency,
    "oversized_payload": _oversized_payload,
}
