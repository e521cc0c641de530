"""The supervised champion: gradient-boosted trees (LightGBM) learnt from the outcomes known at the training cut-off.

Its inputs are the declared features, each rule's verdict and the rules score (as features, not
a fixed blend) and the forest's anomaly score (``ml_score``). It learns only from outcomes with
``labelled_at`` at or before the training cut-off (the start of the test window, a label delay
after the training window ends): a transaction with a fraud outcome known then is fraud, every
other one counts as legitimate (as a team training that day would see it; frauds reported later
are label noise, not leakage). The last ``validation_days`` of the training window, in time
order, are held out: they stop the boosting early and set the alert threshold for the alert
budget. A blacklist hit stays a hard override: its score is 1.0.

LightGBM, chosen by measurement over scikit-learn's ``HistGradientBoostingClassifier`` (the same
average precision and CP@100 on the generated stream, 1.7x faster training; docs/model.md):
its model is a documented text format (portable, no pickle), and it gives its own TreeSHAP
contributions (``pred_contrib``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from streamflow.core.boosting import OVERRIDE_RULE, champion_inputs, overridden_scores
from streamflow.core.config import build_dataclass
from streamflow.modeling.protocol import DAY_MS, FRAUD, Windows, labels_at
from streamflow.modeling.scoring import threshold_for_alert_rate
from streamflow.modeling.training import feature_matrix

__all__ = ["Champion", "ChampionParams", "champion_inputs", "train_champion", "training_labels"]


@dataclass(frozen=True, slots=True)
class ChampionParams:
    """The champion's training settings (``training.champion``).

    Attributes:
        n_estimators: Boosting rounds at most (validation stops earlier).
        learning_rate: Shrinkage per round.
        num_leaves: Leaves per tree at most.
        min_child_samples: Training rows a leaf needs at least.
        reg_lambda: L2 regularisation of leaf values.
        early_stopping_rounds: Rounds without a better validation average precision before stopping.
        validation_days: The training window's last days, held out in time order.
        alert_budget: Share of transactions that alert (the threshold's quantile on the validation days).
        seed: Random seed (the fit is deterministic).

    """

    n_estimators: int = 400
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 20
    reg_lambda: float = 1.0
    early_stopping_rounds: int = 50
    validation_days: float = 3.0
    alert_budget: float = 0.02
    seed: int = 42

    @classmethod
    def from_dict(cls, block: dict[str, Any] | None) -> ChampionParams:
        """Build from the ``training.champion`` block (types checked, unknown keys rejected)."""
        return build_dataclass(cls, block, path="training.champion")


@dataclass(frozen=True)
class Champion:
    """A trained champion: the booster, its inputs in order and its alert threshold."""

    booster: lgb.Booster
    inputs: tuple[str, ...]
    alert_threshold: float
    report: dict[str, Any]

    def scores(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """The fraud probability of each row, 1.0 where the blacklist rule fired (a hard override)."""
        probability = np.asarray(self.booster.predict(feature_matrix(frame, self.inputs)), dtype=np.float64)
        scores = np.zeros_like(probability)
        overridden_scores(probability, frame[OVERRIDE_RULE].to_numpy(dtype=np.float64), scores)
        return scores

    def to_dict(self) -> dict[str, Any]:
        """The model as LightGBM's text format, with its inputs, threshold and training report (JSON-safe)."""
        return {
            "model": self.booster.model_to_string(),
            "inputs": list(self.inputs),
            "alert_threshold": self.alert_threshold,
            "report": self.report,
        }

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> Champion:
        """Read back :meth:`to_dict`."""
        booster = lgb.Booster(model_str=saved["model"])
        return cls(booster, tuple(saved["inputs"]), float(saved["alert_threshold"]), dict(saved["report"]))


def training_labels(train: pd.DataFrame, outcomes: pd.DataFrame, windows: Windows) -> NDArray[np.bool_]:
    """Whether each training row had a fraud outcome known at the training cut-off (``labelled_at <= cut-off``)."""
    known = labels_at(train, outcomes, cutoff_ms=windows.training_cutoff_ms, maturity_ms=windows.maturity_ms)
    return np.asarray(known["label"].to_numpy() == FRAUD, dtype=np.bool_)


def train_champion(
    train: pd.DataFrame, is_fraud: NDArray[np.bool_], feature_names: Sequence[str], params: ChampionParams
) -> Champion:
    """Fit on the training window but its last ``validation_days``; stop and set the threshold on those days.

    Args:
        train: The training window's rows: the inputs of :func:`champion_inputs` and ``event_time_ms``.
        is_fraud: Each row's label (:func:`training_labels`).
        feature_names: The declared features.
        params: Training settings.

    """
    inputs = champion_inputs(feature_names)
    times = train["event_time_ms"].to_numpy()
    held_out = times >= times.max() - params.validation_days * DAY_MS
    if held_out.all() or not held_out.any():
        raise ValueError("training.champion.validation_days leaves no training or no validation rows")
    fit, validation = ~held_out, held_out
    x = feature_matrix(train, inputs)
    model = lgb.LGBMClassifier(
        n_estimators=params.n_estimators,
        learning_rate=params.learning_rate,
        num_leaves=params.num_leaves,
        min_child_samples=params.min_child_samples,
        reg_lambda=params.reg_lambda,
        random_state=params.seed,
        deterministic=True,
        force_row_wise=True,
        n_jobs=1,
        verbose=-1,
    )
    stop: list[Callable[..., Any]] = []
    if is_fraud[validation].any():  # average precision needs a fraud to measure
        stop.append(lgb.early_stopping(params.early_stopping_rounds, verbose=False))
    model.fit(
        x[fit],
        is_fraud[fit],
        eval_X=(x[validation],),
        eval_y=(is_fraud[validation],),
        eval_metric="average_precision",
        callbacks=stop,
        feature_name=list(inputs),
    )
    booster = lgb.Booster(model_str=model.booster_.model_to_string())  # as it is saved: the best iteration's trees
    untuned = Champion(booster, inputs, 1.0, {})
    validation_scores = untuned.scores(train[validation])
    threshold = threshold_for_alert_rate(validation_scores, params.alert_budget)
    report = {
        "library": f"lightgbm {lgb.__version__}",
        "trees": booster.num_trees(),
        "best_iteration": int(model.best_iteration_ or booster.num_trees()),
        "fit_rows": int(fit.sum()),
        "fit_fraud_rows": int(is_fraud[fit].sum()),
        "validation_rows": int(validation.sum()),
        "validation_fraud_rows": int(is_fraud[validation].sum()),
        "alert_budget": params.alert_budget,
    }
    return Champion(booster, inputs, threshold, report)
