"""The field's metrics: card precision@k per day (the Handbook's), precision and recall at an alert budget."""

import math

import numpy as np
import pandas as pd
import pytest

from streamflow.modeling.evaluation import at_budget, card_precision_at_k, evaluate_scorers, metrics_table
from streamflow.modeling.protocol import DAY_MS


def _frame(rows: list[tuple[int, str, float, bool]]) -> pd.DataFrame:
    day, card, score, fraud = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(len(rows))],
            "event_time_ms": [d * DAY_MS + i for i, d in enumerate(day)],
            "day": list(day),
            "card_id": list(card),
            "rules_score": list(score),
            "is_fraud": list(fraud),
            "pattern": [("p" if f else None) for f in fraud],
        }
    )


def test_card_precision_ranks_cards_by_their_best_score_and_drops_cards_detected_before() -> None:
    frame = _frame(
        [
            (0, "A", 0.9, True),  # day 0: A (fraud) and B rank top 2; A is detected
            (0, "A", 0.1, False),
            (0, "B", 0.8, False),
            (0, "C", 0.2, True),
            (1, "A", 0.99, True),  # day 1: A is already detected and leaves the ranking
            (1, "C", 0.7, True),
            (1, "D", 0.6, False),
        ]
    )
    mean, per_day = card_precision_at_k(frame, "rules_score", k=2)
    assert per_day == [0.5, 0.5]  # day 0: {A, B} -> 1 of 2; day 1: {C, D} -> 1 of 2
    assert mean == 0.5
    _, k_beyond_cards = card_precision_at_k(frame, "rules_score", k=4)
    assert k_beyond_cards == [0.5, 0.0]  # over k, even with fewer cards; A and C detected on day 0


def test_the_budget_alerts_the_top_share_ties_broken_by_time() -> None:
    frame = _frame([(0, "A", 0.5, True), (0, "B", 0.5, False), (0, "C", 0.9, False), (0, "D", 0.1, True)])
    assert at_budget(frame, "rules_score", 0.5).tolist() == [True, False, True, False]
    metrics = evaluate_scorers(frame, k=2, budget=0.5)["rules_only"]
    assert metrics["precision_at_budget"] == 0.5
    assert metrics["recall_at_budget"] == 0.5
    assert metrics["recall_by_pattern"] == {"p": 0.5}
    assert metrics["auc_roc"] == pytest.approx(0.125)  # A ties B, every other positive ranks below
    assert "CP@2" in metrics_table({"rules_only": metrics}, k=2)


def test_without_fraud_the_metrics_say_so_instead_of_inventing_a_value() -> None:
    frame = _frame([(0, "A", 0.5, False), (0, "B", 0.2, False)])
    metrics = evaluate_scorers(frame, k=1, budget=0.5)["rules_only"]
    assert math.isnan(metrics["auc_roc"])
    assert math.isnan(metrics["average_precision"])
    assert np.isnan(metrics["recall_at_budget"])
