import json

import pandas as pd

from streamflow.core import FEATURE_NAMES, ContractConfig, RulesConfig, process_event
from streamflow.medallion.bronze import ingest_files
from streamflow.medallion.silver import run_silver
from streamflow.modeling.features import events_in_stream_order, replay_features
from tests.factories import make_event, payload

RULES = RulesConfig.from_dict({})


def _silver(records: list[dict[str, object]]) -> pd.DataFrame:
    raw = "\n".join(json.dumps(payload(**record)) for record in records).encode() + b"\n"
    bronze = ingest_files({"d.jsonl": raw}, pd.Timestamp("2026-02-01T00:00:00Z"))
    return run_silver(bronze, ContractConfig(future_tolerance_minutes=0)).silver


def test_replay_orders_by_event_time_not_by_arrival() -> None:
    silver = _silver(
        [
            {"transaction_id": "late", "timestamp": "2026-01-05T12:10:00Z"},
            {"transaction_id": "early", "timestamp": "2026-01-05T12:00:00Z"},
        ]
    )
    assert [event.transaction_id for event in events_in_stream_order(silver)] == ["early", "late"]


def test_replayed_features_equal_the_core_run_event_by_event() -> None:
    records = [
        {
            "transaction_id": f"t{i}",
            "amount": 10.0 + 7 * i,
            "timestamp": f"2026-01-05T12:{i:02d}:00Z",
            "longitude": 2.0 + i,
        }
        for i in range(12)
    ]
    frame = replay_features(_silver(records), RULES)
    state = None
    for i, row in frame.iterrows():
        expected, state = process_event(
            state, make_event(minutes=i, **{k: v for k, v in records[i].items() if k != "timestamp"}), RULES
        )
        assert tuple(row[list(FEATURE_NAMES)]) == tuple(expected.features)
        assert row["rules_score"] == expected.rules_score
        assert [row[r.rule_id] for r in expected.rule_results] == [r.fired for r in expected.rule_results]
