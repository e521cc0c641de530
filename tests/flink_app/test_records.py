"""The stream's pure decision logic, without Flink."""

import json

import numpy as np
import pytest
from flink_app.records import PAYLOAD_LIMIT_BYTES, dead_letter, score_event
from sklearn.ensemble import IsolationForest

from streamflow.core import EventError, RulesConfig, parse_event
from streamflow.modeling.packaging import build_bundle
from tests.factories import make_event

RULES = RulesConfig.from_dict({"blacklist": {"store_ids": ["S-bad"]}})


def _bundle(threshold: float = 0.5):  # type: ignore[no-untyped-def]
    forest = IsolationForest(n_estimators=20, random_state=0).fit(np.random.default_rng(0).normal(size=(500, 6)))
    return build_bundle(
        forest,
        model_version="m1",
        training_window={},
        training_rows=500,
        score_normalisation={"low": 0.3, "high": 0.8},
        alert_threshold=threshold,
        alpha=0.3,
    )


def test_rules_only_scoring_alerts_on_the_rules_score() -> None:
    decision = score_event(None, make_event(store_id="S-bad"), RULES, None, rules_only_threshold=0.5, scored_at="t")
    assert decision.scored["final_score"] == 1.0
    assert decision.scored["model_version"] == "rules-only"
    assert decision.alert is not None
    assert decision.alert["reasons"] == ["FR-005 blacklist: blacklisted store S-bad"]
    assert decision.alert["top_features"] == []


def test_model_scoring_blends_and_explains_with_the_top_three_features() -> None:
    bundle = _bundle(threshold=0.0)
    decision = score_event(None, make_event(store_id="S-bad"), RULES, bundle, rules_only_threshold=0.5, scored_at="t")
    ml = decision.scored["ml_score"]
    assert decision.scored["final_score"] == pytest.approx(0.3 * ml + 0.7 * 1.0)
    assert decision.alert is not None
    assert len(decision.alert["top_features"]) == 3
    assert decision.alert["model_version"] == "m1"


def test_quiet_events_do_not_alert_and_state_moves_on() -> None:
    decision = score_event(None, make_event(), RULES, None, rules_only_threshold=0.5, scored_at="t")
    assert decision.alert is None
    assert decision.scored["alert"] is False
    assert decision.state.event_count == 1


def test_dead_letter_keeps_code_source_and_a_10kb_payload() -> None:
    payload = '{"notes": "' + "x" * 20_000 + '"}'
    with pytest.raises(EventError) as caught:
        parse_event(payload)
    record = dead_letter(payload, caught.value, source="in.jsonl", received_at="t", job_version="1", model_version="m")
    assert record["error_code"] == "payload_too_large"
    assert record["payload_size"] == len(payload)
    assert len(record["payload"]) == PAYLOAD_LIMIT_BYTES
    assert record["payload_truncated"] is True
    assert json.loads(json.dumps(record)) == record
