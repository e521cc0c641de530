"""The delay protocol: windows in time order, outcomes used only once known, maturity for the unlabelled."""

import numpy as np
import pandas as pd
import pytest

from streamflow.modeling.protocol import DAY_MS, DelayProtocol, ProtocolError, labels_at, protocol_windows

DAY0 = pd.Timestamp("2026-01-01T00:00:00Z").value // 1_000_000


def _days(*days: float) -> np.ndarray:
    return np.array([DAY0 + int(day * DAY_MS) for day in days], dtype=np.int64)


def test_the_test_window_ends_where_its_outcomes_are_mature_then_delay_and_training_precede_it() -> None:
    protocol = DelayProtocol(train_days=10, delay_days=3, test_days=5, maturity_days=7)
    windows = protocol_windows(_days(0, 40), newest_labelled_ms=DAY0 + 35 * DAY_MS, protocol=protocol)
    assert windows.evaluation_cutoff_ms == DAY0 + 35 * DAY_MS  # the newest outcome
    assert windows.test_end_ms == DAY0 + 28 * DAY_MS  # cut-off - maturity
    assert windows.test_start_ms == DAY0 + 23 * DAY_MS
    assert windows.training_cutoff_ms == windows.test_start_ms  # a model works from the test's start
    assert windows.train_end_ms == DAY0 + 20 * DAY_MS  # the label delay before the test
    assert windows.train_start_ms == DAY0 + 10 * DAY_MS


def test_explicit_dates_win_and_a_too_short_history_is_a_coded_error() -> None:
    protocol = DelayProtocol(train_days=10, delay_days=3, test_days=5, test_end="2026-01-20T00:00:00+00:00")
    windows = protocol_windows(_days(0, 40), None, protocol)
    assert windows.test_end_ms == DAY0 + 19 * DAY_MS
    assert windows.evaluation_cutoff_ms == DAY0 + 40 * DAY_MS  # no outcome: the newest event
    with pytest.raises(ProtocolError, match="does not reach back") as caught:
        protocol_windows(_days(10, 40), None, protocol)
    assert caught.value.code == "protocol_window"


def test_labels_use_only_outcomes_known_at_the_cutoff_and_the_latest_of_them() -> None:
    transactions = pd.DataFrame({"transaction_id": ["a", "b", "c", "d"], "event_time_ms": _days(0, 0, 0, 9)})
    outcomes = pd.DataFrame(
        {
            "transaction_id": ["a", "b", "b", "c"],
            "is_fraud": [True, False, True, True],
            "labelled_at_ms": _days(2, 1, 3, 20),
            "pattern": ["p", None, "q", "r"],
        }
    )
    at_day_5 = labels_at(transactions, outcomes, cutoff_ms=DAY0 + 5 * DAY_MS, maturity_ms=4 * DAY_MS)
    assert at_day_5["label"].tolist() == ["fraud", "fraud", "legit", "pending"]
    # b: cleared on day 1, charged back on day 3: the latest known wins; c: its chargeback comes on
    # day 20, unknown at day 5, and c is older than the maturity window: legit then; d is too young
    assert at_day_5["pattern"].tolist()[:2] == ["p", "q"]
    at_day_2 = labels_at(transactions, outcomes, cutoff_ms=DAY0 + 2 * DAY_MS, maturity_ms=4 * DAY_MS)
    assert at_day_2["label"].tolist() == ["fraud", "legit", "pending", "pending"]


def test_protocol_parameters_are_typed() -> None:
    from streamflow.core import ConfigTypeError

    with pytest.raises(ConfigTypeError, match=r"evaluation\.protocol\.train_days"):
        DelayProtocol.from_dict({"train_days": "two weeks"})
