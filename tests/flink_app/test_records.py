"""The stream's pure decision logic, without Flink."""

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flink_app.config import load_config
from flink_app.job import ExplainAlerts
from flink_app.records import EXPLAIN_INPUTS, PAYLOAD_LIMIT_BYTES, dead_letter, explain, score_step, to_json, utc_now
from flink_app.scoring_step import StreamStep
from flink_app.task_state import EventClock, SlotCache

from streamflow.core import CustomerState, Event, EventError, RulesConfig, parse_event, replay_events
from streamflow.core.forest import ModelBundle
from streamflow.devtools.stream_benchmark import InMemoryContext, synthetic_bundle
from tests.factories import core_decisions, make_bundle, make_event

RULES = RulesConfig.from_dict({"blacklist": {"store_ids": ["S-bad"]}})


def _score_one(event: Event, bundle: ModelBundle | None) -> tuple[dict[str, Any], dict[str, Any] | None, bytes]:
    """A new customer's first event through the job's step: the scored record, the alert explained, the new state."""
    step = StreamStep(RULES, bundle, max_out_of_orderness_ms=60_000, dedup_window_ms=10**9)(None, b"", event)
    assert step is not None
    scored, alert = score_step(event, step, RULES, bundle, rules_only_threshold=0.5, scored_at="t")
    return scored, alert if alert is None else explain(json.loads(to_json(alert)), bundle), step.state


def test_rules_only_scoring_alerts_on_the_rules_score() -> None:
    scored, alert, _ = _score_one(make_event(store_id="S-bad"), None)
    assert scored["final_score"] == 1.0
    assert scored["model_version"] == "rules-only"
    assert alert is not None
    assert alert["reasons"] == ["FR-005 blacklist: blacklisted store S-bad"]
    assert alert["top_features"] == []


def test_model_scoring_blends_and_explains_with_the_top_three_features() -> None:
    bundle = make_bundle(threshold=0.0)
    scored, alert, _ = _score_one(make_event(store_id="S-bad"), bundle)
    ml = scored["ml_score"]
    assert ml == bundle.ml_score(tuple(scored["features"].values()))
    assert scored["final_score"] == pytest.approx(0.3 * ml + 0.7 * 1.0)
    assert alert is not None
    assert len(alert["top_features"]) == 3
    assert alert["model_version"] == "m1"


def test_quiet_events_do_not_alert_and_state_moves_on() -> None:
    scored, alert, state = _score_one(make_event(), None)
    assert alert is None
    assert scored["alert"] is False
    assert CustomerState.from_bytes(state).event_count == 1


def test_dead_letter_keeps_code_source_and_a_10kb_payload() -> None:
    payload = b'{"notes": "' + b"x" * 20_000 + b'"}'
    with pytest.raises(EventError) as caught:
        parse_event(payload)
    record = dead_letter(payload, caught.value, source="in.jsonl", received_at="t", job_version="1", model_version="m")
    assert record["error_code"] == "payload_too_large"
    assert record["payload_size"] == len(payload)
    assert len(record["payload"]) == PAYLOAD_LIMIT_BYTES
    assert record["payload_truncated"] is True
    assert json.loads(json.dumps(record)) == record


def test_a_dead_letter_shows_bytes_beyond_utf8_as_replacement_characters() -> None:
    raw = b'{"store_id": "Caf\xe9"}'
    with pytest.raises(EventError) as caught:
        parse_event(raw)
    record = dead_letter(raw, caught.value, source="in.jsonl", received_at="t", job_version="1", model_version="m")
    assert record["error_code"] == "bad_encoding"
    assert record["payload"] == '{"store_id": "Caf\ufffd"}'
    assert record["payload_size"] == len(raw)


def test_the_clock_flags_events_at_or_behind_the_watermark_as_late() -> None:
    clock = EventClock(max_out_of_orderness_ms=60_000)
    assert clock.watermark_ms is None
    assert clock.observe(1_000_000) is False  # the first event is never late
    assert clock.watermark_ms == 1_000_000 - 60_000 - 1
    assert clock.observe(1_000_000 - 60_000) is False  # within the bound
    assert clock.observe(1_000_000 - 60_001) is True  # at the watermark
    assert clock.observe(2_000_000) is False
    assert clock.observe(1_500_000) is True  # the watermark moved with the newest event


def test_to_json_falls_back_for_what_orjson_refuses() -> None:
    assert to_json({"a": 1.5, "b": [None, True]}) == '{"a":1.5,"b":[null,true]}'
    huge = 10**30  # echoed from a rejected payload; beyond orjson's 64-bit integers
    assert json.loads(to_json({"got": huge})) == {"got": huge}


@pytest.mark.parametrize("with_model", [True, False])
def test_an_alerts_reasons_are_the_batch_replays_reasons(with_model: bool) -> None:
    bundle = make_bundle(threshold=0.3) if with_model else None
    step = StreamStep(RULES, bundle, max_out_of_orderness_ms=60_000, dedup_window_ms=10**9)
    events = [make_event(minutes=index * 7, amount=40.0 + index) for index in range(8)]
    events += [make_event(minutes=60, store_id="S-bad", amount=9_000.0), make_event(minutes=61, latitude=-33.9)]
    packed: bytes | None = None
    ids = b""
    alerts = 0
    for event, (_, batch) in zip(events, replay_events(events, RULES), strict=True):
        result = step(packed, ids, event)
        assert result is not None
        scored, alert = score_step(event, result, RULES, bundle, rules_only_threshold=0.5, scored_at="t")
        assert scored["fired_rules"] == [r.rule_id for r in batch.fired_rules]
        if alert is not None:
            assert alert["reasons"] == [f"{r.rule_id} {r.name}: {r.reason}" for r in batch.fired_rules]
            alerts += 1
        packed, ids = result.state, result.ids
    assert alerts >= 1


def test_the_champion_decides_and_the_blend_scores_in_shadow_as_in_batch(tmp_path: Path) -> None:
    bundle, _ = synthetic_bundle(tmp_path / "b", model_version="m", n_trees=10, n_rows=600, champion_rounds=30)
    champion = bundle.manifest.champion
    assert champion is not None
    step = StreamStep(RULES, bundle, max_out_of_orderness_ms=60_000, dedup_window_ms=10**9)
    events = [make_event(minutes=index * 7, amount=40.0 + 30 * index) for index in range(10)]
    events += [make_event(minutes=90, store_id="S-bad", amount=9_000.0), make_event(minutes=91, latitude=-33.9)]
    packed: bytes | None = None
    ids = b""
    expected = core_decisions(events, RULES, bundle)  # the batch's scores: bundle.champion_scores, one definition
    for event, (expected_scored, expected_alert) in zip(events, expected, strict=True):
        result = step(packed, ids, event)
        assert result is not None
        scored, alert = score_step(event, result, RULES, bundle, rules_only_threshold=0.5, scored_at="")
        assert scored == expected_scored  # bit for bit: ml_score, the champion's score, the challenger's
        if alert is not None:  # pending: the explain stage adds its top features, from the step's inputs
            assert set(alert) - set(expected_alert or {}) == {EXPLAIN_INPUTS}
            alert = explain(json.loads(to_json(alert)), bundle)  # as it crosses to the explain stage
        assert alert == expected_alert
        assert scored["model_version"] == champion.model_version
        assert scored["challenger_version"] == "m"
        assert scored["challenger_score"] == bundle.blend(scored["ml_score"], scored["rules_score"])
        packed, ids = result.state, result.ids
    blacklisted = expected[-2]
    assert blacklisted[0]["final_score"] == 1.0  # the hard override
    assert blacklisted[1] is not None
    assert {entry["feature"] for entry in blacklisted[1]["top_features"]} <= set(champion.inputs)


def test_utc_now_is_iso_8601_to_the_millisecond() -> None:
    stamp = utc_now()
    assert datetime.fromisoformat(stamp).tzinfo is not None
    assert len(stamp.split(".")[1]) == len("123+00:00")


def test_the_slot_cache_reads_through_expires_as_flink_does_and_keeps_the_newest() -> None:
    reads: list[str] = []

    def read(customer_id: str) -> tuple[bytes | None, bytes]:
        reads.append(customer_id)
        return (b"state", b"")

    cache = SlotCache(capacity=2, ttl_ms=1_000)
    assert cache.get("C-1", 0, read) == (b"state", b"")  # not cached: read from the state
    cache.put_all({"C-1": (b"one", b""), "C-2": (b"two", b"")}, now_ms=100)
    assert cache.get("C-1", 1_100, read) == (b"one", b"")  # within the TTL
    assert cache.get("C-1", 1_101, read) is None  # expired, as the state's entry has
    cache.put_all({"C-1": (b"one again", b"")}, now_ms=200)  # C-1 is now the newest
    cache.put_all({"C-3": (b"three", b"")}, now_ms=300)  # over capacity: C-2, written longest ago, goes
    assert cache.get("C-1", 300, read) == (b"one again", b"")
    assert cache.get("C-2", 300, read) == (b"state", b"")
    assert reads == ["C-1", "C-2"]


def test_the_explain_stage_adds_the_champions_top_features_to_a_pending_alert(tmp_path: Path) -> None:
    bundle, _ = synthetic_bundle(tmp_path / "b", model_version="m", n_trees=10, n_rows=600, champion_rounds=30)
    step = StreamStep(RULES, bundle, max_out_of_orderness_ms=60_000, dedup_window_ms=10**9)
    event = make_event(store_id="S-bad", amount=9_000.0)
    result = step(None, b"", event)
    assert result is not None
    _, pending = score_step(event, result, RULES, bundle, rules_only_threshold=0.5, scored_at="t")
    assert pending is not None
    assert pending["top_features"] == []
    explain_stage = ExplainAlerts(load_config(), str(tmp_path / "b"))
    explain_stage.open(InMemoryContext())
    alert = json.loads(explain_stage.map(to_json(pending)))
    assert EXPLAIN_INPUTS not in alert
    assert alert == explain(json.loads(to_json(pending)), bundle)
    assert len(alert["top_features"]) == 3
    rules_only = ExplainAlerts(load_config(), None)
    rules_only.open(InMemoryContext())
    _, pending_rules = score_step(event, result, RULES, None, rules_only_threshold=0.5, scored_at="t")
    assert pending_rules is not None
    assert json.loads(rules_only.map(to_json(pending_rules)))["top_features"] == []
