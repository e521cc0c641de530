"""Feature vectors and rule results by replaying silver events through the core.

Parity by construction: the core's compiled ``replay`` runs the same per-event ``step`` the
stream runs, one state per customer, in event-time order (ties in landing order).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from streamflow.core import Event, FeaturesConfig, FeatureSet, RulesConfig, feature_set, merchant_replay
from streamflow.core.features import replay
from streamflow.core.rules import RULE_IDS, RULE_NAMES, blacklisted_ids, rule_params, rule_results
from streamflow.core.signals import EVENT_INPUT, event_input
from streamflow.core.state import OUTCOME_INPUT

ORDER_COLUMNS: tuple[str, ...] = ("event_time_ms", "source_file", "line_number")
ID_COLUMNS: tuple[str, ...] = ("transaction_id", "customer_id", "card_id", "store_id", "event_time_ms", "amount")


def events_in_stream_order(silver: pd.DataFrame) -> list[Event]:
    """Silver rows as core events, in event-time order (ties: file, then line)."""
    ordered = silver.sort_values(list(ORDER_COLUMNS), kind="stable")
    columns = [ordered[name].tolist() for name in Event._fields]
    return [Event(*values) for values in zip(*columns, strict=True)]


def replay_features(
    silver: pd.DataFrame,
    rules: RulesConfig,
    features: FeatureSet | None = None,
    merchant_lag_ms: int = FeaturesConfig().merchant_lag_ms,
    outcomes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per event: ids, time, the model's features, each rule's verdict and the rules score.

    Customer features come from the customer replay, merchant features (``core.merchant``) from
    a replay per merchant of the same events and of the known outcomes, in one time order.

    Args:
        silver: Silver transactions.
        rules: Rule thresholds.
        features: The model's features (default: ``DEFAULT_FEATURES``).
        merchant_lag_ms: ``features.merchant_lag_minutes``, for merchant features.
        outcomes: Silver outcomes (``customer_id``, ``store_id``, ``labelled_at_ms``, ``is_fraud``), for
            the features that read them (``merchant_fraud_*``, ``customer_fraud_known_30d``); none: no
            outcome known.

    Returns:
        Columns ``transaction_id, customer_id, card_id, store_id, event_time_ms, amount`` + the
        feature names + one boolean per rule id + ``rules_score`` + ``rule_reasons`` (JSON list).

    """
    chosen = features if features is not None else feature_set()
    ordered = silver.sort_values(list(ORDER_COLUMNS), kind="stable").reset_index(drop=True)
    listed = [
        blacklisted_ids(customer, card, store, rules.blacklist)
        for customer, card, store in zip(ordered["customer_id"], ordered["card_id"], ordered["store_id"], strict=True)
    ]
    inputs = np.array(
        [
            event_input(amount, latitude, longitude, currency, time_ms, offset, bool(ids), rules)
            for amount, latitude, longitude, currency, time_ms, offset, ids in zip(
                ordered["amount"].tolist(),
                ordered["latitude"].tolist(),
                ordered["longitude"].tolist(),
                ordered["currency"].tolist(),
                ordered["event_time_ms"].tolist(),
                ordered["utc_offset_minutes"].tolist(),
                listed,
                strict=True,
            )
        ],
        dtype=EVENT_INPUT,
    ).reshape(-1)
    customers, uniques = pd.factorize(ordered["customer_id"])
    customer_outcomes = outcomes if chosen.customer_outcome_names else None  # only the features that read them
    known, known_customers = outcome_inputs(customer_outcomes, pd.Index(uniques), "customer_id")
    out, customer_vectors = replay(
        inputs,
        customers.astype(np.int64),
        len(uniques),
        rule_params(rules, chosen.windows),
        chosen,
        known,
        known_customers,
    )
    vectors = np.zeros((len(ordered), len(chosen.names)), dtype=np.float64)
    vectors[:, [chosen.names.index(name) for name in chosen.customer_names]] = customer_vectors
    if chosen.merchant_names:
        merchants, stores = pd.factorize(ordered["store_id"])
        known, known_merchants = outcome_inputs(outcomes, pd.Index(stores))
        merchant_vectors = merchant_replay(
            inputs, merchants.astype(np.int64), len(stores), merchant_lag_ms, chosen, known, known_merchants
        )
        vectors[:, [chosen.names.index(name) for name in chosen.merchant_names]] = merchant_vectors
    frame = ordered[list(ID_COLUMNS)].astype({"event_time_ms": "int64", "amount": "float64"})
    any_fired = np.logical_or.reduce([out[name] for name in RULE_NAMES]) if len(out) else np.zeros(0, dtype=bool)
    reasons = np.full(len(out), "[]", dtype=object)
    for index in np.flatnonzero(any_fired).tolist():
        results = rule_results(out[index], ordered["currency"].iat[index], listed[index], rules)
        reasons[index] = json.dumps([f"{r.rule_id} {r.reason}" for r in results if r.fired])
    return frame.assign(
        **{name: vectors[:, index] for index, name in enumerate(chosen.names)},
        **{rule_id: out[name].astype(bool) for rule_id, name in zip(RULE_IDS, RULE_NAMES, strict=True)},
        rules_score=out["rules_score"].astype(np.float64),
        rule_reasons=pd.Series(reasons, dtype=object),
    )


def outcome_inputs(
    outcomes: pd.DataFrame | None, entities: pd.Index[Any], column: str = "store_id"
) -> tuple[NDArray[Any], NDArray[np.int64]]:
    """The ``OUTCOME_INPUT`` records of the outcomes of ``entities`` in ``labelled_at`` order; each one's entity index.

    ``column`` names the outcome's entity (``store_id``, ``customer_id``). An outcome of an entity
    without an event in this replay changes no feature, and is left out.
    """
    if outcomes is None or outcomes.empty:
        return np.zeros(0, dtype=OUTCOME_INPUT), np.zeros(0, dtype=np.int64)
    ordered = outcomes.sort_values("labelled_at_ms", kind="stable")
    indexes = entities.get_indexer(ordered[column])
    at_known = indexes >= 0
    records = np.zeros(int(at_known.sum()), dtype=OUTCOME_INPUT)
    records["labelled_at_ms"] = ordered["labelled_at_ms"].to_numpy(dtype=np.int64)[at_known]
    records["is_fraud"] = ordered["is_fraud"].to_numpy(dtype=bool)[at_known]
    return records, indexes[at_known].astype(np.int64)


def _iso(epoch_ms: int) -> str:
    return pd.Timestamp(epoch_ms, unit="ms", tz="UTC").isoformat()
