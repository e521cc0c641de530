"""The delay protocol: time-ordered training, delay and test windows, and labels known at a cut-off.

As the Fraud Detection Handbook (Le Borgne et al., 2022) evaluates fraud models: a model is
trained on a training window with the outcomes known when it is put to work (the start of the
test window, a label delay after the training window ends), and judged on the test window with
the outcomes known at the evaluation's cut-off. Nothing is shuffled across time, and no outcome
is used before its ``labelled_at``.

A transaction without an outcome at a cut-off counts as legitimate once it is older than
``maturity_days`` (chargebacks stop arriving); a younger one is ``pending`` and left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from streamflow.core.config import build_dataclass
from streamflow.core.errors import ConfigError, CoreError

DAY_MS = 86_400_000
FRAUD, LEGIT, PENDING = "fraud", "legit", "pending"


class ProtocolError(CoreError):
    """The history is too short for the protocol's windows, or the windows are out of the data."""

    code = "protocol_window"


@dataclass(frozen=True, slots=True)
class DelayProtocol:
    """Window lengths and cut-offs (the ``evaluation.protocol`` parameters).

    Attributes:
        train_days: Length of the training window.
        delay_days: The label delay: days between the end of training and the start of the test.
        test_days: Length of the test window.
        maturity_days: A transaction without an outcome is legitimate once this old at a cut-off.
        test_end: ISO time the test window ends; ``None``: as late as the evaluation's outcomes
            allow (the cut-off minus ``maturity_days``), at most the newest event.
        evaluation_cutoff: ISO time of the evaluation's outcomes; ``None``: the newest
            ``labelled_at`` (the newest event when there is no outcome).

    """

    train_days: float = 14.0
    delay_days: float = 7.0
    test_days: float = 7.0
    maturity_days: float = 14.0
    test_end: str | None = None
    evaluation_cutoff: str | None = None

    def __post_init__(self) -> None:
        if min(self.train_days, self.test_days) <= 0 or min(self.delay_days, self.maturity_days) < 0:
            raise ConfigError(
                "evaluation.protocol needs train_days and test_days > 0, delay_days and maturity_days >= 0",
                key="evaluation.protocol",
            )

    @classmethod
    def from_dict(cls, block: dict[str, Any] | None) -> DelayProtocol:
        """Build from the ``evaluation.protocol`` block (types checked, unknown keys rejected)."""
        return build_dataclass(cls, block, path="evaluation.protocol")


@dataclass(frozen=True, slots=True)
class Windows:
    """The protocol's windows and cut-offs, epoch milliseconds (UTC); windows are ``[start, end)``."""

    train_start_ms: int
    train_end_ms: int
    test_start_ms: int
    test_end_ms: int
    training_cutoff_ms: int
    evaluation_cutoff_ms: int
    maturity_ms: int

    def to_dict(self) -> dict[str, Any]:
        """ISO times, for the run's reports (``split_window``)."""
        return {
            "train_start": _iso(self.train_start_ms),
            "train_end": _iso(self.train_end_ms),
            "test_start": _iso(self.test_start_ms),
            "test_end": _iso(self.test_end_ms),
            "training_cutoff": _iso(self.training_cutoff_ms),
            "evaluation_cutoff": _iso(self.evaluation_cutoff_ms),
            "maturity_days": self.maturity_ms / DAY_MS,
        }

    @classmethod
    def from_dict(cls, window: dict[str, Any]) -> Windows:
        """Read back :meth:`to_dict`."""
        ms = {name: int(pd.Timestamp(window[name]).value // 1_000_000) for name in _WINDOW_NAMES}
        times = {f"{name}_ms": value for name, value in ms.items()}
        return cls(**times, maturity_ms=int(window["maturity_days"] * DAY_MS))


_WINDOW_NAMES = ("train_start", "train_end", "test_start", "test_end", "training_cutoff", "evaluation_cutoff")


def protocol_windows(
    event_times_ms: np.ndarray[Any, Any], newest_labelled_ms: int | None, protocol: DelayProtocol
) -> Windows:
    """Place the windows on the data: the test window ends as late as its outcomes can be known.

    Raises:
        ProtocolError: The history does not reach back to the training window's start.

    """
    oldest, newest = int(event_times_ms.min()), int(event_times_ms.max())
    if protocol.evaluation_cutoff is not None:
        cutoff = _ms(protocol.evaluation_cutoff)
    else:
        cutoff = newest_labelled_ms if newest_labelled_ms is not None else newest
    maturity = int(protocol.maturity_days * DAY_MS)
    test_end = _ms(protocol.test_end) if protocol.test_end is not None else min(newest + 1, cutoff - maturity)
    test_start = test_end - int(protocol.test_days * DAY_MS)
    train_end = test_start - int(protocol.delay_days * DAY_MS)
    train_start = train_end - int(protocol.train_days * DAY_MS)
    if train_start < oldest:
        needed = protocol.train_days + protocol.delay_days + protocol.test_days
        raise ProtocolError(
            f"the history ({_iso(oldest)} .. {_iso(newest)}) does not reach back to the training window's start "
            f"{_iso(train_start)}: the protocol needs {needed:g} days before its test end {_iso(test_end)} (the "
            f"evaluation cut-off {_iso(cutoff)} minus {protocol.maturity_days:g} maturity days); shorten "
            "evaluation.protocol's windows or land more history"
        )
    return Windows(train_start, train_end, test_start, test_end, test_start, cutoff, maturity)


def labels_at(transactions: pd.DataFrame, outcomes: pd.DataFrame, *, cutoff_ms: int, maturity_ms: int) -> pd.DataFrame:
    """Each transaction's label as known at ``cutoff_ms``: its latest outcome then, else legit if mature, else pending.

    Args:
        transactions: ``transaction_id`` and ``event_time_ms``.
        outcomes: ``silver_outcomes`` (``transaction_id``, ``is_fraud``, ``labelled_at_ms``, ``pattern``).
        cutoff_ms: Only outcomes with ``labelled_at <= cutoff`` count.
        maturity_ms: Without an outcome, a transaction at least this old at the cut-off is legit.

    Returns:
        ``transaction_id``, ``label`` (``fraud``, ``legit`` or ``pending``), ``pattern`` (the
        outcome's, when it carries one) and ``labelled_at_ms`` (of the outcome used; -1 for none).

    """
    known = outcomes[outcomes["labelled_at_ms"] <= cutoff_ms].sort_values("labelled_at_ms", kind="stable")
    latest = known.drop_duplicates("transaction_id", keep="last").set_index("transaction_id")
    found = latest.reindex(transactions["transaction_id"])
    has_outcome = found["is_fraud"].notna().to_numpy()
    mature = transactions["event_time_ms"].to_numpy() <= cutoff_ms - maturity_ms
    fraud = has_outcome & (found["is_fraud"].to_numpy() == True)  # noqa: E712 - NaN (no outcome) is not True
    label = np.where(fraud, FRAUD, np.where(has_outcome | mature, LEGIT, PENDING))
    return pd.DataFrame(
        {
            "transaction_id": transactions["transaction_id"].to_numpy(),
            "label": label,
            "pattern": found["pattern"].astype(object).where(has_outcome, None).to_numpy(),
            "labelled_at_ms": found["labelled_at_ms"].fillna(-1).astype("int64").to_numpy(),
        }
    )


def in_window(frame: pd.DataFrame, start_ms: int, end_ms: int) -> pd.DataFrame:
    """The rows whose ``event_time_ms`` lies in ``[start, end)``."""
    times = frame["event_time_ms"]
    return frame[(times >= start_ms) & (times < end_ms)].reset_index(drop=True)


def _ms(iso: str) -> int:
    stamp = pd.Timestamp(iso)
    if stamp.tzinfo is None:
        raise ConfigError(f"evaluation.protocol: {iso!r} has no UTC offset", key="evaluation.protocol")
    return int(stamp.value // 1_000_000)


def _iso(epoch_ms: int) -> str:
    return pd.Timestamp(epoch_ms, unit="ms", tz="UTC").isoformat()
