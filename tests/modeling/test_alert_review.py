import pandas as pd
import pytest

from streamflow.modeling.alert_review import (
    ALERT_COLUMNS,
    NO_RULE,
    label_alerts,
    load_alerts,
    precision_by_rule,
    recall_by_pattern,
    top_feature_counts,
)


def _alert(tx: str, rules: list[str], top: str) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(ALERT_COLUMNS, 0.0)
    row.update(
        alert_id=tx,
        transaction_id=tx,
        fired_rules=rules,
        reasons=[],
        top_features=[{"feature": top, "contribution": 1.0}],
        model_version="iforest-x",
    )
    return row


LABELS = pd.DataFrame(
    {
        "transaction_id": ["a", "b", "c", "d", "e"],
        "is_fraud": [True, False, True, True, False],
        "pattern": ["velocity_burst", "none", "subtle", "subtle", "none"],
    }
)


def test_replayed_alerts_count_once_and_no_stream_output_is_an_empty_frame() -> None:
    first = pd.DataFrame([_alert("a", ["FR-002"], "velocity_count"), _alert("b", [], "amount_zscore")])
    replayed = pd.DataFrame([_alert("a", ["FR-002"], "velocity_count")])
    alerts = load_alerts({"p1": lambda: first, "p2": lambda: replayed})
    assert alerts["alert_id"].tolist() == ["a", "b"]
    assert load_alerts({}).columns.tolist() == list(ALERT_COLUMNS)


def test_precision_by_rule_and_recall_by_pattern_against_labels() -> None:
    alerts = pd.DataFrame(
        [
            _alert("a", ["FR-002"], "velocity_count"),
            _alert("b", ["FR-002"], "amount_zscore"),
            _alert("c", [], "amount_ratio"),
        ]
    )
    labelled = label_alerts(alerts, LABELS)
    by_rule = precision_by_rule(labelled)
    assert by_rule.loc["FR-002", "precision"] == pytest.approx(0.5)
    assert by_rule.loc[NO_RULE, "frauds"] == 1
    by_pattern = recall_by_pattern(labelled, LABELS)
    assert by_pattern.loc["subtle", "recall"] == pytest.approx(0.5)
    assert by_pattern.loc["velocity_burst", "recall"] == pytest.approx(1.0)
    assert top_feature_counts(labelled).loc["velocity_count", "fraud"] == 1


def test_alerts_whose_outcome_is_still_pending_are_left_out() -> None:
    alerts = pd.DataFrame([_alert("a", ["FR-002"], "velocity_count"), _alert("zz", [], "amount_ratio")])
    assert label_alerts(alerts, LABELS)["transaction_id"].tolist() == ["a"]
