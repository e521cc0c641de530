"""Portable gradient-boosted trees: a LightGBM binary model as plain arrays, scored without LightGBM.

The champion (``streamflow.modeling.champion``) is trained with LightGBM; the stream scores it with
:func:`boosted_probabilities`, a compiled walk over the arrays :func:`boosted_arrays` takes from the
model's own dump (``Booster.dump_model``). The walk follows LightGBM's numerical split rule::

    value = x[feature]; NaN counts as 0.0 unless the split's missing type is NaN
    missing (type Zero and |value| <= 1e-35, or type NaN and value is NaN): go the default side
    otherwise: value <= threshold goes left

and sums the leaves' values tree by tree, in order, as LightGBM does; the probability is
``1 / (1 + exp(-sigmoid * raw))``. Its parity with ``Booster.predict`` is tested to 1e-12.
Categorical splits and objectives other than ``binary`` are refused (``ModelError``): the champion
has neither.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamflow.core.compiled import compiled
from streamflow.core.forest import ModelError

BOOSTED_ARRAYS: tuple[str, ...] = (
    "tree_offsets",
    "feature",
    "threshold",
    "left",
    "right",
    "default_left",
    "missing_type",
    "leaf_value",
)
BOOSTED_LEAF = -1  # a node whose feature is this is a leaf
MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2
_MISSING_TYPES = {"None": MISSING_NONE, "Zero": MISSING_ZERO, "NaN": MISSING_NAN}
_ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold


def boosted_arrays(dump: dict[str, Any]) -> tuple[dict[str, NDArray[Any]], float]:
    """The walk's arrays of a LightGBM binary model's dump, every tree's nodes concatenated, and its sigmoid.

    Raises:
        ModelError: the model is not a binary one, or has a categorical split.

    """
    objective = str(dump.get("objective", ""))
    name, _, parameter = objective.partition(" ")
    if name != "binary" or dump.get("num_tree_per_iteration", 1) != 1 or dump.get("average_output"):
        raise ModelError(f"only binary LightGBM models can be scored here, not {objective!r}")
    sigmoid = float(parameter.removeprefix("sigmoid:")) if parameter.startswith("sigmoid:") else 1.0
    nodes: dict[str, list[Any]] = {name: [] for name in BOOSTED_ARRAYS if name != "tree_offsets"}
    offsets = [0]
    for tree in dump["tree_info"]:
        _flatten(tree["tree_structure"], nodes, offsets[-1])
        offsets.append(len(nodes["feature"]))
    arrays: dict[str, NDArray[Any]] = {
        "tree_offsets": np.array(offsets, dtype=np.int64),
        "feature": np.array(nodes["feature"], dtype=np.int32),
        "threshold": np.array(nodes["threshold"], dtype=np.float64),
        "left": np.array(nodes["left"], dtype=np.int32),
        "right": np.array(nodes["right"], dtype=np.int32),
        "default_left": np.array(nodes["default_left"], dtype=np.uint8),
        "missing_type": np.array(nodes["missing_type"], dtype=np.uint8),
        "leaf_value": np.array(nodes["leaf_value"], dtype=np.float64),
    }
    return arrays, sigmoid


def _flatten(node: dict[str, Any], nodes: dict[str, list[Any]], start: int) -> int:
    """Append ``node`` and its subtree (preorder) to a tree that starts at ``start``; its index within the tree."""
    position = len(nodes["feature"])
    for column in nodes.values():
        column.append(0)
    if "split_feature" not in node:
        nodes["feature"][position] = BOOSTED_LEAF
        nodes["leaf_value"][position] = float(node["leaf_value"])
        return position - start
    if node.get("decision_type") != "<=":
        raise ModelError(f"only numerical splits can be scored here, not {node.get('decision_type')!r}")
    nodes["feature"][position] = int(node["split_feature"])
    nodes["threshold"][position] = float(node["threshold"])
    nodes["default_left"][position] = 1 if node["default_left"] else 0
    nodes["missing_type"][position] = _MISSING_TYPES[str(node["missing_type"])]
    nodes["left"][position] = _flatten(node["left_child"], nodes, start)
    nodes["right"][position] = _flatten(node["right_child"], nodes, start)
    return position - start


@compiled
def boosted_raw_scores(
    x: Any,
    tree_offsets: Any,
    feature: Any,
    threshold: Any,
    left: Any,
    right: Any,
    default_left: Any,
    missing_type: Any,
    leaf_value: Any,
    out: Any,
) -> None:
    """Each row's raw score: the sum, tree by tree in order, of the leaf values its splits lead to."""
    n_trees = tree_offsets.shape[0] - 1
    for row in range(x.shape[0]):
        total = 0.0
        for tree in range(n_trees):
            base = tree_offsets[tree]
            node = 0
            while feature[base + node] != BOOSTED_LEAF:
                at = base + node
                value = x[row, feature[at]]
                kind = missing_type[at]
                if math.isnan(value) and kind != MISSING_NAN:
                    value = 0.0
                if (kind == MISSING_ZERO and abs(value) <= _ZERO_THRESHOLD) or (
                    kind == MISSING_NAN and math.isnan(value)
                ):
                    go_left = default_left[at] != 0
                else:
                    go_left = value <= threshold[at]
                node = left[at] if go_left else right[at]
            total += leaf_value[base + node]
        out[row] = total


@compiled
def sigmoid_probabilities(raw: Any, sigmoid: float, out: Any) -> None:
    """LightGBM's binary probability of each raw score: ``1 / (1 + exp(-sigmoid * raw))``."""
    for row in range(raw.shape[0]):
        out[row] = 1.0 / (1.0 + math.exp(-sigmoid * raw[row]))


def boosted_probabilities(x: NDArray[Any], arrays: dict[str, NDArray[Any]], sigmoid: float) -> NDArray[np.float64]:
    """The fraud probability of each row of ``x`` (float64, the model's inputs in order)."""
    rows = np.ascontiguousarray(np.atleast_2d(x), dtype=np.float64)
    raw = np.zeros(rows.shape[0], dtype=np.float64)
    walk: Any = boosted_raw_scores  # compiled: takes the arrays in BOOSTED_ARRAYS order
    walk(rows, *(arrays[name] for name in BOOSTED_ARRAYS), raw)
    probabilities = np.zeros_like(raw)
    sigmoid_probabilities(raw, sigmoid, probabilities)
    return probabilities
