"""SHAP explanations of the Isolation Forest (research side; the stream uses path attribution)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap
from matplotlib.figure import Figure
from numpy.typing import NDArray
from sklearn.ensemble import IsolationForest

from streamflow.core.forest import ModelBundle
from streamflow.modeling.training import feature_matrix, model_inputs


def shap_values(forest: IsolationForest, features: pd.DataFrame) -> NDArray[np.float64]:
    """TreeSHAP values (path-dependent) of the forest's output for each row."""
    explainer = shap.TreeExplainer(forest)
    values: NDArray[np.float64] = np.asarray(explainer.shap_values(model_inputs(forest, features)))
    return values


def mean_abs_shap(values: NDArray[np.float64], names: Sequence[str]) -> pd.DataFrame:
    """Mean |SHAP| per feature ``names``, largest first."""
    importance = np.abs(values).mean(axis=0) if len(values) else np.zeros(len(names))
    table = pd.DataFrame({"feature": list(names), "mean_abs_shap": importance})
    return table.sort_values("mean_abs_shap", ascending=False, ignore_index=True)


def summary_figure(values: NDArray[np.float64], inputs: pd.DataFrame) -> Figure:
    """SHAP's beeswarm summary of ``values`` for the model's ``inputs`` (``model_inputs``)."""
    shap.summary_plot(values, inputs, show=False, rng=np.random.default_rng(0))
    figure = plt.gcf()
    figure.tight_layout()
    plt.close(figure)
    return figure


def alert_explanations(
    alerts: pd.DataFrame, values: NDArray[np.float64], bundle: ModelBundle, k: int = 3
) -> pd.DataFrame:
    """Per alert: the top ``k`` TreeSHAP contributions and the bundle's own top ``k``.

    SHAP values explain the path length, so the most negative values push hardest towards
    anomaly; the bundle's contributions are already oriented that way.
    """
    names = bundle.manifest.feature_names
    shap_top = [_top(-row, k, names) for row in values]
    bundle_top = [bundle.top_contributions(tuple(row), k) for row in feature_matrix(alerts, names)]
    return pd.DataFrame(
        {
            "transaction_id": alerts["transaction_id"].to_numpy(),
            "final_score": alerts["final_score"].to_numpy(),
            "shap_top_features": [json.dumps(top) for top in shap_top],
            "bundle_top_features": [json.dumps(top) for top in bundle_top],
            "top_feature_agrees": [s[0][0] == b[0][0] for s, b in zip(shap_top, bundle_top, strict=True)],
        }
    )


def _top(anomaly_push: NDArray[np.float64], k: int, names: Sequence[str]) -> list[tuple[str, float]]:
    order = np.argsort(-anomaly_push, kind="stable")[:k]
    return [(names[i], float(anomaly_push[i])) for i in order]
