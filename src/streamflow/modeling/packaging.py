"""Turn a fitted scikit-learn ``IsolationForest`` and the champion into a portable bundle (arrays + manifest)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import sklearn
from numpy.typing import NDArray
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length

from streamflow.core.boosting import BOOSTED_ARRAYS, boosted_arrays
from streamflow.core.features import DEFAULT_FEATURES, MERCHANT_FEATURES, FeaturesConfig
from streamflow.core.forest import (
    BUNDLE_FORMAT_VERSION,
    LEAF,
    ChampionManifest,
    ModelBundle,
    ModelManifest,
    arrays_sha256,
)
from streamflow.modeling.champion import Champion


def forest_arrays(forest: IsolationForest) -> tuple[dict[str, NDArray[Any]], float]:
    """All trees' nodes concatenated, features mapped back to the input columns.

    Returns:
        The arrays (see ``streamflow.core.forest.TREE_ARRAYS``) and the score denominator
        ``n_trees * c(max_samples)``.

    """
    subsample_features = forest._max_features != forest.n_features_in_
    parts: dict[str, list[NDArray[Any]]] = {
        name: [] for name in ("left", "right", "feature", "threshold", "missing_left", "leaf_value", "node_value")
    }
    offsets = [0]
    for estimator, columns in zip(forest.estimators_, forest.estimators_features_, strict=True):
        tree = estimator.tree_
        left = tree.children_left.astype(np.int64)
        is_split = left != LEAF
        feature = tree.feature.astype(np.int64)
        if subsample_features:
            feature = np.where(is_split, np.asarray(columns)[np.maximum(feature, 0)], LEAF)
        else:
            feature = np.where(is_split, feature, LEAF)
        leaf_value = tree.compute_node_depths() + _average_path_length(tree.n_node_samples) - 1.0
        parts["left"].append(left)
        parts["right"].append(tree.children_right.astype(np.int64))
        parts["feature"].append(feature)
        parts["threshold"].append(tree.threshold.astype(np.float64))
        parts["missing_left"].append(tree.missing_go_to_left.astype(np.uint8))
        parts["leaf_value"].append(leaf_value.astype(np.float64))
        parts["node_value"].append(_expected_leaf_values(left, tree.children_right, leaf_value, tree.n_node_samples))
        offsets.append(offsets[-1] + tree.node_count)
    arrays = {name: np.concatenate(values) for name, values in parts.items()}
    arrays["tree_offsets"] = np.asarray(offsets, dtype=np.int64)
    denominator = float(len(forest.estimators_) * _average_path_length([forest._max_samples])[0])
    return arrays, denominator


def _expected_leaf_values(
    left: NDArray[Any], right: NDArray[Any], leaf_value: NDArray[Any], n_samples: NDArray[Any]
) -> NDArray[np.float64]:
    """Each node's leaf value averaged over its training samples (children come after parents)."""
    values = leaf_value.astype(np.float64).copy()
    for node in range(len(left) - 1, -1, -1):
        if left[node] != LEAF:
            n_left, n_right = n_samples[left[node]], n_samples[right[node]]
            values[node] = (n_left * values[left[node]] + n_right * values[right[node]]) / (n_left + n_right)
    return values


def build_bundle(
    forest: IsolationForest,
    *,
    model_version: str,
    training_window: dict[str, str],
    training_rows: int,
    score_normalisation: dict[str, float],
    alert_threshold: float,
    alpha: float,
    feature_names: tuple[str, ...] | None = None,
    merchant_lag_ms: int = FeaturesConfig().merchant_lag_ms,
) -> ModelBundle:
    """A verified ``ModelBundle`` for a fitted forest.

    Its features are ``feature_names``, else the ones the forest was fitted on
    (``feature_names_in_``); a forest fitted on a plain array reads ``DEFAULT_FEATURES``. A model
    that reads merchant features records the ``merchant_lag_ms`` they were computed with.
    """
    arrays, denominator = forest_arrays(forest)
    names = feature_names or tuple(getattr(forest, "feature_names_in_", DEFAULT_FEATURES))
    if len(names) != forest.n_features_in_:
        raise ValueError(f"the forest reads {forest.n_features_in_} features, not the {len(names)} of {names}")
    manifest = ModelManifest(
        model_version=model_version,
        feature_names=names,
        merchant_lag_ms=merchant_lag_ms if MERCHANT_FEATURES.intersection(names) else None,
        training_window=training_window,
        training_rows=training_rows,
        score_normalisation=score_normalisation,
        alert_threshold=alert_threshold,
        alpha=alpha,
        sklearn_version=sklearn.__version__,
        arrays_sha256=arrays_sha256(arrays),
        denominator=denominator,
        n_trees=len(forest.estimators_),
    )
    return ModelBundle(manifest, arrays)


def with_champion(
    bundle: ModelBundle, champion: Champion, merchant_lag_ms: int = FeaturesConfig().merchant_lag_ms
) -> ModelBundle:
    """``bundle`` with the champion: its walk (``core.boosting``), its LightGBM text, its manifest section.

    A champion that reads merchant features the forest does not read records the
    ``merchant_lag_ms`` they were computed with.
    """
    model_text = champion.booster.model_to_string()
    arrays, sigmoid = boosted_arrays(champion.booster.dump_model())
    digest = arrays_sha256(arrays, BOOSTED_ARRAYS)
    manifest = ChampionManifest(
        model_version=f"lgbm-{digest[:12]}",
        inputs=champion.inputs,
        alert_threshold=champion.alert_threshold,
        sigmoid=sigmoid,
        library=str(champion.report.get("library", "lightgbm")),
        arrays_sha256=digest,
        n_trees=champion.booster.num_trees(),
    )
    lag_ms = bundle.manifest.merchant_lag_ms
    if lag_ms is None and MERCHANT_FEATURES.intersection(champion.inputs):
        lag_ms = merchant_lag_ms
    packaged = replace(bundle.manifest, champion=manifest, merchant_lag_ms=lag_ms, format_version=BUNDLE_FORMAT_VERSION)
    return ModelBundle(packaged, bundle.arrays, arrays, model_text)
