"""Feature vectors and rule results by replaying silver events through the core.

Parity by construction: the same ``replay_events`` the stream's per-customer state
machine runs, in event-time order (ties in landing order).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from streamflow.core import FEATURE_NAMES, Event, RulesConfig, replay_events

RULE_IDS: tuple[str, ...] = ("FR-001", "FR-002", "FR-003", "FR-004", "FR-005")
ORDER_COLUMNS: tuple[str, ...] = ("event_time_ms", "source_file", "line_number")
ID_COLUMNS: tuple[str, ...] = ("transaction_id", "customer_id", "card_id", "store_id", "event_time_ms", "amount")


def events_in_stream_order(silver: pd.DataFrame) -> list[Event]:
    """Silver rows as core events, in event-time order (ties: file, then line)."""
    ordered = silver.sort_values(list(ORDER_COLUMNS), kind="stable")
    columns = [ordered[name].tolist() for name in Event._fields]
    return [Event(*values) for values in zip(*columns, strict=True)]


def replay_features(silver: pd.DataFrame, rules: RulesConfig) -> pd.DataFrame:
    """One row per event: ids, time, the six features, each rule's verdict and the rules score.

    Returns:
        Columns ``transaction_id, customer_id, card_id, store_id, event_time_ms, amount`` +
        ``FEATURE_NAMES`` + one boolean per rule id + ``rules_score`` + ``rule_reasons`` (JSON list).

    """
    rows: dict[str, list[Any]] = {name: [] for name in ID_COLUMNS}
    features: list[tuple[float, ...]] = []
    fired: list[tuple[bool, ...]] = []
    scores: list[float] = []
    reasons: list[str] = []
    events = events_in_stream_order(silver)
    progress = tqdm(events, desc="replay", unit="event", unit_scale=True, mininterval=1.0, leave=False)
    for event, assessment in replay_events(progress, rules):
        for name in ID_COLUMNS:
            rows[name].append(getattr(event, name))
        features.append(tuple(assessment.features))
        fired.append(tuple(result.fired for result in assessment.rule_results))
        scores.append(assessment.rules_score)
        reasons.append(json.dumps([f"{r.rule_id} {r.reason}" for r in assessment.fired_rules]))
    frame = pd.DataFrame(rows).astype({"event_time_ms": "int64", "amount": "float64"})
    feature_values = np.array(features, dtype=np.float64).reshape(-1, len(FEATURE_NAMES))
    rule_values = np.array(fired, dtype=bool).reshape(-1, len(RULE_IDS))
    frame = frame.assign(
        **{name: feature_values[:, i] for i, name in enumerate(FEATURE_NAMES)},
        **{rule: rule_values[:, i] for i, rule in enumerate(RULE_IDS)},
        rules_score=np.array(scores, dtype=np.float64),
        rule_reasons=pd.Series(reasons, dtype=object),
    )
    return frame


def _iso(epoch_ms: int) -> str:
    return pd.Timestamp(epoch_ms, unit="ms", tz="UTC").isoformat()
