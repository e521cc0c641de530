"""Test factories: valid contract payloads and parsed events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from flink_app.summary import committed_files

from streamflow.core import Event, EventError, RulesConfig, parse_event, replay_events
from streamflow.core.forest import ModelBundle
from streamflow.core.rules import RULE_IDS

BASE_TIME = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
# Four windows other than the default (features.windows), and features over them: the steps
# compiled for these serve the core's and the stream's window tests alike.
OTHER_WINDOWS = ("30m", "6h", "2d", "90d")
CUSTOMER_WINDOWED = ("customer_count_30m", "customer_amount_sum_90d")
MERCHANT_WINDOWED = ("merchant_count_30m", "merchant_amount_sum_6h", "merchant_count_90d", "merchant_fraud_count_2d")


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


def parses(line: str | bytes) -> bool:
    """Whether the event contract accepts ``line``."""
    try:
        parse_event(line)
    except EventError:
        return False
    return True


def make_event(minutes: float = 0.0, **overrides: Any) -> Event:
    """A parsed event ``minutes`` after ``BASE_TIME`` (UTC) with ``overrides``."""
    overrides.setdefault("timestamp", (BASE_TIME + timedelta(minutes=minutes)).isoformat())
    overrides.setdefault("transaction_id", f"tx-{minutes}")
    return parse_event(json.dumps(payload(**overrides)))


def make_bundle(
    *,
    n_estimators: int = 20,
    training_rows: int = 500,
    threshold: float = 0.5,
    model_version: str = "m1",
    normalisation: tuple[float, float] = (0.3, 0.8),
    feature_scale: tuple[float, ...] = (1.0,) * 6,
) -> ModelBundle:
    """The bundle of an Isolation Forest fitted on |N(0, 1)| rows times ``feature_scale`` (alpha 0.3)."""
    import numpy as np
    from sklearn.ensemble import IsolationForest

    from streamflow.modeling.packaging import build_bundle

    rows = np.abs(np.random.default_rng(0).normal(size=(training_rows, 6))) * feature_scale
    forest = IsolationForest(n_estimators=n_estimators, random_state=0).fit(rows)
    return build_bundle(
        forest,
        model_version=model_version,
        training_window={},
        training_rows=training_rows,
        score_normalisation={"low": normalisation[0], "high": normalisation[1]},
        alert_threshold=threshold,
        alpha=0.3,
    )


def sink_records(folder: Path) -> list[dict[str, Any]]:
    """The records a stream sink committed to ``folder`` (its finished part files, in name order)."""
    return [json.loads(line) for path in committed_files(folder) for line in path.read_bytes().splitlines()]


def core_decisions(
    events: list[Event], rules: RulesConfig, bundle: ModelBundle | None, *, rules_only_threshold: float = 0.5
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """The scored record and the alert of each event, from the core's batch replay (events in the job's order)."""
    from flink_app.records import alert_record, scored_record, top_features

    decisions = []
    for event, assessment in replay_events(events, rules):
        features = assessment.features
        ml_score = bundle.ml_score(features) if bundle is not None else None
        fired = assessment.fired_rules
        fired_ids = tuple(result.rule_id for result in fired)
        champion_score, champion_row = None, None
        if bundle is not None and bundle.manifest.champion is not None:  # the champion's inputs, by the batch's order
            verdicts = [float(rule_id in fired_ids) for rule_id in RULE_IDS]
            champion_row = np.array([*features, *verdicts, assessment.rules_score, ml_score], dtype=np.float64)
            champion_score = float(bundle.champion_scores(champion_row)[0])
        scored = scored_record(
            event,
            features,
            fired_ids,
            assessment.rules_score,
            ml_score,
            champion_score,
            bundle,
            rules_only_threshold,
            "",
            False,
        )
        top = top_features(bundle, champion_row if champion_row is not None else np.array(features, dtype=np.float64))
        decisions.append((scored, alert_record(scored, fired, top) if scored["alert"] else None))
    return decisions
