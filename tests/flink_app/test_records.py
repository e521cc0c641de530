"""The stream's pure decision logic, without Flink."""

import json

import numpy as np
import pytest
from flink_app.records import (
    MAX_REMEMBERED_IDS,
    PAYLOAD_LIMIT_BYTES,
    EventClock,
    RecentTransactions,
    dead_letter,
    score_event,
    to_json,
)
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


def test_the_clock_flags_events_at_or_behind_the_watermark_as_late() -> None:
    clock = EventClock(max_out_of_orderness_ms=60_000)
    assert clock.watermark_ms is None
    assert clock.observe(1_000_000) is False  # the first event is never late
    assert clock.watermark_ms == 1_000_000 - 60_000 - 1
    assert clock.observe(1_000_000 - 60_000) is False  # within the bound
    assert clock.observe(1_000_000 - 60_001) is True  # at the watermark
    assert clock.observe(2_000_000) is False
    assert clock.observe(1_500_000) is True  # the watermark moved with the newest event


def test_remembered_transactions_are_kept_for_the_window_after_the_newest() -> None:
    recent = RecentTransactions()
    recent.remember("T1", 1_000, window_ms=500)
    recent.remember("T2", 1_400, window_ms=500)
    assert "T1" in recent
    assert "T2" in recent
    assert "T3" not in recent
    recent.remember("T3", 1_600, window_ms=500)
    assert "T1" not in recent
    assert len(recent) == 2
    again = RecentTransactions(recent.packed())
    assert "T2" in again
    assert "T3" in again
    assert len(again) == 2
    again.remember("T0", 900, window_ms=500)  # out of order: kept until the ids before it go
    assert "T0" in again
    again.remember("T4", 2_000, window_ms=500)
    assert list(map(again.__contains__, ("T2", "T3", "T0", "T4"))) == [False, True, True, True]


def test_remembered_transactions_are_capped_oldest_first() -> None:
    recent = RecentTransactions()
    for index in range(MAX_REMEMBERED_IDS + 5):
        recent.remember(f"T{index}", index, window_ms=10**12)
    assert len(recent) == MAX_REMEMBERED_IDS
    assert "T0" not in recent
    assert f"T{MAX_REMEMBERED_IDS + 4}" in recent


def test_to_json_falls_back_for_what_orjson_refuses() -> None:
    assert to_json({"a": 1.5, "b": [None, True]}) == '{"a":1.5,"b":[null,true]}'
    huge = 10**30  # echoed from a rejected payload; beyond orjson's 64-bit integers
    assert json.loads(to_json({"got": huge})) == {"got": huge}


def test_lateness_is_judged_against_the_customers_newest_event() -> None:
    recent = RecentTransactions()
    assert recent.is_late(0, max_out_of_orderness_ms=60_000) is False  # a first event is never late
    recent.remember("T1", 1_000_000, window_ms=10**9)
    assert recent.is_late(1_000_000 - 60_000, max_out_of_orderness_ms=60_000) is False  # within the bound
    assert recent.is_late(1_000_000 - 60_001, max_out_of_orderness_ms=60_000) is True
