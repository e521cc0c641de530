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

The champion's score is that probability, or 1.0 on a hard override (:data:`OVERRIDE_RULE`, the
blacklist, fired): :func:`champion_scores`, which batch and stream both call. An alert's reasons
come from LightGBM's own TreeSHAP (:class:`TreeShap`, its C API: importing the ``lightgbm``
package imports scipy, whose import deadlocks in PyFlink's embedded interpreter).
"""

from __future__ import annotations

import ctypes
import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamflow.core.compiled import compiled
from streamflow.core.forest import ROW_BLOCK, TREES_AT_ONCE, ModelError
from streamflow.core.rules import RULE_IDS

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
# One node as the walk reads it: one record a node, where six arrays would cost a cache line each.
BOOSTED_NODE = np.dtype(
    [
        ("threshold", np.float64),
        ("left", np.int32),  # children count from the tree's first node
        ("right", np.int32),
        ("feature", np.int32),  # BOOSTED_LEAF: a leaf
        ("default_left", np.uint8),
        ("missing_type", np.uint8),
    ],
    align=True,
)
MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2
_MISSING_TYPES = {"None": MISSING_NONE, "Zero": MISSING_ZERO, "NaN": MISSING_NAN}
_ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold
OVERRIDE_RULE = "FR-005"  # the blacklist: a hit is a hard override, the champion's score is 1.0
ANOMALY_INPUT = "ml_score"  # the forest's normalised anomaly score, the champion's last input


class ModelLibraryError(ModelError):
    """LightGBM's library, which explains the champion's alerts, is missing or refused a call."""

    code = "model_library"


def champion_inputs(feature_names: Sequence[str]) -> tuple[str, ...]:
    """The champion's inputs, in order: the declared features, each rule's verdict, the rules score, ml_score."""
    return (*feature_names, *RULE_IDS, "rules_score", ANOMALY_INPUT)


def champion_features(inputs: Sequence[str]) -> tuple[str, ...]:
    """The declared features among the champion's ``inputs`` (:func:`champion_inputs`): all before the verdicts."""
    return tuple(inputs[: len(inputs) - len(champion_inputs(()))])


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


Walk = tuple[NDArray[Any], NDArray[Any], NDArray[Any]]  # what the walk reads (boosted_walk)


def boosted_walk(arrays: dict[str, NDArray[Any]]) -> Walk:
    """What the walk reads of the champion's :data:`BOOSTED_ARRAYS`: tree offsets, ``BOOSTED_NODE`` records, leaves."""
    nodes = np.zeros(arrays["feature"].shape[0], dtype=BOOSTED_NODE)
    for name in nodes.dtype.names or ():
        nodes[name] = arrays[name]
    return arrays["tree_offsets"].astype(np.int64), nodes, arrays["leaf_value"].astype(np.float64)


@compiled
def boosted_next_node(x: Any, at: int, base: int, nodes: Any) -> int:
    """The node ``x`` (one row) goes to from node ``at`` (children count from the tree's ``base``); a leaf stays."""
    node = nodes[at]
    if node["feature"] == BOOSTED_LEAF:
        return at
    value = x[node["feature"]]
    kind = node["missing_type"]
    if math.isnan(value) and kind != MISSING_NAN:
        value = 0.0
    if (kind == MISSING_ZERO and abs(value) <= _ZERO_THRESHOLD) or (kind == MISSING_NAN and math.isnan(value)):
        go_left = node["default_left"] != 0
    else:
        go_left = value <= node["threshold"]
    return int(base + (node["left"] if go_left else node["right"]))


@compiled
def boosted_raw_scores(x: Any, tree_offsets: Any, nodes: Any, leaf_value: Any, out: Any) -> None:
    """Each row's raw score: the sum, tree by tree in order, of the leaf values its splits lead to.

    Rows go in blocks of ``ROW_BLOCK``; a block's rows walk four trees before the next four, so
    those trees' nodes stay in cache across the block. A row walks its four trees side by side
    (past the last tree, the last stands in, unsummed): four independent walks overlap in the
    CPU, where one walk waits on each node's loads in turn. Each row adds its trees in order,
    so a row's sum is the same bits whatever the block.
    """
    n_trees = tree_offsets.shape[0] - 1
    last = n_trees - 1
    n_rows = x.shape[0]
    out[:n_rows] = 0.0
    for start in range(0, n_rows, ROW_BLOCK):
        stop = min(start + ROW_BLOCK, n_rows)
        for first in range(0, n_trees, TREES_AT_ONCE):
            base0, base1 = tree_offsets[first], tree_offsets[min(first + 1, last)]
            base2, base3 = tree_offsets[min(first + 2, last)], tree_offsets[min(first + 3, last)]
            for row in range(start, stop):
                values = x[row]
                node0, node1, node2, node3 = base0, base1, base2, base3
                while (
                    nodes[node0]["feature"] != BOOSTED_LEAF
                    or nodes[node1]["feature"] != BOOSTED_LEAF
                    or nodes[node2]["feature"] != BOOSTED_LEAF
                    or nodes[node3]["feature"] != BOOSTED_LEAF
                ):
                    node0 = boosted_next_node(values, node0, base0, nodes)
                    node1 = boosted_next_node(values, node1, base1, nodes)
                    node2 = boosted_next_node(values, node2, base2, nodes)
                    node3 = boosted_next_node(values, node3, base3, nodes)
                leaves = (node0, node1, node2, node3)
                total = out[row]
                for walked in range(min(TREES_AT_ONCE, n_trees - first)):
                    total += leaf_value[leaves[walked]]
                out[row] = total


@compiled
def sigmoid_probability(raw: float, sigmoid: float) -> float:
    """LightGBM's binary probability of a raw score: ``1 / (1 + exp(-sigmoid * raw))``."""
    return 1.0 / (1.0 + math.exp(-sigmoid * raw))


@compiled
def overridden(probability: float, override_verdict: float) -> float:
    """The champion's score: 1.0 when the override rule fired (its verdict input is 1.0), else the probability."""
    return 1.0 if override_verdict != 0.0 else probability


@compiled
def sigmoid_probabilities(raw: Any, sigmoid: float, out: Any) -> None:
    """:func:`sigmoid_probability` of each raw score."""
    for row in range(raw.shape[0]):
        out[row] = sigmoid_probability(raw[row], sigmoid)


@compiled
def overridden_scores(probabilities: Any, override_verdicts: Any, out: Any) -> None:
    """:func:`overridden` of each row."""
    for row in range(probabilities.shape[0]):
        out[row] = overridden(probabilities[row], override_verdicts[row])


@compiled
def champion_scores(
    x: Any, tree_offsets: Any, nodes: Any, leaf_value: Any, sigmoid: float, override_input: int, out: Any
) -> None:
    """The champion's score of each row of its inputs: the walk's probability, or 1.0 on an override."""
    boosted_raw_scores(x, tree_offsets, nodes, leaf_value, out)
    for row in range(x.shape[0]):
        out[row] = overridden(sigmoid_probability(out[row], sigmoid), x[row, override_input])


def boosted_probabilities(x: NDArray[Any], walk: Walk, sigmoid: float) -> NDArray[np.float64]:
    """The fraud probability of each row of ``x`` (float64, the model's inputs in order): :func:`boosted_walk`'s."""
    rows = np.ascontiguousarray(np.atleast_2d(x), dtype=np.float64)
    raw = np.zeros(rows.shape[0], dtype=np.float64)
    boosted_raw_scores(rows, *walk, raw)
    probabilities = np.zeros_like(raw)
    sigmoid_probabilities(raw, sigmoid, probabilities)
    return probabilities


def boosted_scores(x: NDArray[Any], walk: Walk, sigmoid: float, override_input: int) -> NDArray[np.float64]:
    """The champion's score of each row of ``x`` (float64, its inputs in order): :func:`champion_scores`."""
    rows = np.ascontiguousarray(np.atleast_2d(x), dtype=np.float64)
    scores = np.zeros(rows.shape[0], dtype=np.float64)
    champion_scores(rows, *walk, sigmoid, override_input, scores)
    return scores


_DTYPE_FLOAT64 = 1  # LightGBM's C API: C_API_DTYPE_FLOAT64
_PREDICT_CONTRIB = 3  # C_API_PREDICT_CONTRIB: TreeSHAP values, then the expected value
_LIBRARY_NAMES = ("lib_lightgbm.so", "lib_lightgbm.dylib", "lib_lightgbm.dll")


def lightgbm_library() -> ctypes.CDLL:
    """LightGBM's C library, from the installed ``lightgbm`` package (not imported: it imports scipy).

    Raises:
        ModelLibraryError: LightGBM is not installed.

    """
    spec = importlib.util.find_spec("lightgbm")
    folders = [Path(folder) / "lib" for folder in (spec.submodule_search_locations or ())] if spec else []
    for path in (folder / name for folder in folders for name in _LIBRARY_NAMES):
        if path.is_file():
            return ctypes.CDLL(str(path))
    raise ModelLibraryError("LightGBM is not installed: the champion's alerts need its TreeSHAP (pip install lightgbm)")


class TreeShap:
    """The champion's TreeSHAP contributions, one row at a time, by LightGBM's own predictor (its C API).

    Each input's contribution to the raw score (log-odds); with the expected value they add up to it.
    """

    def __init__(self, model_text: str, n_inputs: int) -> None:
        self._library = library = lightgbm_library()
        self._handle = ctypes.c_void_p()
        iterations = ctypes.c_int()
        self._check(
            library.LGBM_BoosterLoadModelFromString(
                model_text.encode("utf-8"), ctypes.byref(iterations), ctypes.byref(self._handle)
            )
        )
        self._row = np.zeros(n_inputs, dtype=np.float64)
        self._values = np.zeros(n_inputs + 1, dtype=np.float64)
        self._length = ctypes.c_int64()
        self._arguments = (
            ctypes.c_void_p(self._row.ctypes.data),
            ctypes.c_int(_DTYPE_FLOAT64),
            ctypes.c_int32(1),
            ctypes.c_int32(n_inputs),
            ctypes.c_int(1),  # row-major
            ctypes.c_int(_PREDICT_CONTRIB),
            ctypes.c_int(0),  # from the first iteration
            ctypes.c_int(-1),  # to the last
            b"num_threads=1",
            ctypes.byref(self._length),
            ctypes.c_void_p(self._values.ctypes.data),
        )

    def _check(self, status: int) -> None:
        if status != 0:
            self._library.LGBM_GetLastError.restype = ctypes.c_char_p
            raise ModelLibraryError(f"LightGBM: {self._library.LGBM_GetLastError().decode('utf-8', 'replace')}")

    def __call__(self, inputs: Sequence[float] | NDArray[Any]) -> NDArray[np.float64]:
        """Each input's contribution for one row of the champion's inputs."""
        self._row[:] = inputs
        self._check(self._library.LGBM_BoosterPredictForMat(self._handle, *self._arguments))
        return self._values[:-1].copy()

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value:
            self._library.LGBM_BoosterFree(handle)
