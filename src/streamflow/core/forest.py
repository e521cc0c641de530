"""Portable Isolation Forest: load a model bundle and score events without scikit-learn.

The bundle (written by the ``package`` pipeline) is a JSON manifest plus a ``.npz`` of
plain arrays: every tree's nodes concatenated (children, feature, threshold, missing-value
direction, leaf path-length values, expected subtree path lengths). No pickle. A
``checksums.sha256`` file (``sha256sum -c`` reads it) covers every other file of the bundle, the
manifest included: a bundle whose files do not match it, or that lacks it, is corrupt.

Exact formula matched (scikit-learn ``IsolationForest.score_samples``): with ``X`` cast to
float32 and, for each tree in order, the leaf ``l`` reached by the tree's own rule
(NaN follows ``missing_go_to_left``; otherwise ``x[feature] <= threshold`` goes left)::

    depth(x)        = sum_t ( decision_path_length_t[l] + c(n_node_samples_t[l]) - 1.0 )
    score_samples   = -2 ** ( -depth(x) / (n_trees * c(max_samples)) )

where ``c(n)`` is the average path length of an unsuccessful BST search. The leaf
values ``decision_path_length + c(n) - 1.0`` are precomputed at packaging in the same
float64 operation order, so the sums are bit-identical.

Tree walks are compiled with numba when it is installed (about 3 us an event for 100 trees:
four trees side by side, over one ``WALK_NODE`` record a node); the same walk in plain Python is
the fallback.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import io
import json
import math
import struct
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from streamflow.core.compiled import compiled
from streamflow.core.config import build_dataclass
from streamflow.core.errors import ConfigError, CoreError

BUNDLE_FORMAT_VERSION = 2  # 2: an optional supervised champion; 1 (no champion) is still read
READABLE_FORMAT_VERSIONS = (1, 2)
MANIFEST_FILE = "manifest.json"
ARRAYS_FILE = "forest.npz"
CHAMPION_ARRAYS_FILE = "champion.npz"  # the champion's walk (streamflow.core.boosting)
CHAMPION_MODEL_FILE = "champion.txt"  # the champion in LightGBM's own text format, for research
CHECKSUMS_FILE = "checksums.sha256"
TREE_ARRAYS: tuple[str, ...] = (
    "tree_offsets",
    "left",
    "right",
    "feature",
    "threshold",
    "missing_left",
    "leaf_value",
    "node_value",
)
LEAF = -1
# One node as the depth walk reads it: one 16-byte record a node, where five arrays would cost a
# cache line each (walk_nodes).
WALK_NODE = np.dtype(
    [
        ("left", np.int32),  # the left child, from the tree's first node (LEAF: a leaf)
        ("right", np.int32),
        ("feature", np.int16),
        ("missing_left", np.uint8),  # where NaN goes
        ("threshold", np.float32),  # the split's threshold rounded down to float32 (walk_nodes)
    ],
    align=True,
)
_WALK_NODE_BYTES = WALK_NODE.itemsize
ROW_BLOCK = 256
TREES_AT_ONCE = 4  # trees one row walks side by side (_leaves_of_four)
PARALLEL_MIN_ROWS = 4 * ROW_BLOCK

try:  # numba's prange is a plain range outside parallel kernels
    from numba import carray, prange
except ImportError:  # pragma: no cover - numba ships with shap in this environment
    prange = range
    carray = None


class ModelError(CoreError):
    """A model bundle that cannot be used."""

    code = "model_error"


class ModelMissingError(ModelError):
    """No bundle at the configured path."""

    code = "model_missing"


class ModelBundleCorruptError(ModelError):
    """A file of the bundle does not match its checksum, is missing, unlisted or unreadable: corrupted or edited."""

    code = "model_bundle_corrupt"


class ModelFeatureError(ModelError):
    """The bundle was trained on other features, or in another order."""

    code = "model_feature_mismatch"


class ModelFormatError(ModelError):
    """The manifest or arrays are not a bundle this code can read."""

    code = "model_format"


@dataclass(frozen=True)
class ChampionManifest:
    """The bundle's supervised champion (``streamflow.modeling.champion``): what scores it and how it alerts."""

    model_version: str  # lgbm-<first 12 of the walk arrays' SHA-256>
    # in order: the forest's features, its own (features.champion_only), each rule's verdict, the rules score, ml_score
    inputs: tuple[str, ...]
    alert_threshold: float
    sigmoid: float
    library: str  # what trained it (lightgbm <version>)
    arrays_sha256: str
    n_trees: int


@dataclass(frozen=True)
class ModelManifest:
    """What the stream and the reports need to know about a bundle."""

    model_version: str
    feature_names: tuple[str, ...]
    training_window: dict[str, str]
    training_rows: int
    score_normalisation: dict[str, float]
    alert_threshold: float
    alpha: float
    sklearn_version: str
    arrays_sha256: str
    denominator: float
    n_trees: int
    format_version: int = BUNDLE_FORMAT_VERSION
    # features.merchant_lag_minutes (in ms) the merchant features were computed with; None: the model reads none
    merchant_lag_ms: int | None = None
    champion: ChampionManifest | None = None  # None: no supervised champion (format 1, or none trained)

    def __post_init__(self) -> None:
        for key, value in (("alpha", self.alpha), ("alert_threshold", self.alert_threshold)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(
                    f"manifest.{key}: expected a number within [0, 1], got {value!r}",
                    key=f"manifest.{key}",
                    expected="a number within [0, 1]",
                    got=value,
                )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        champion = None if self.champion is None else {**asdict(self.champion), "inputs": list(self.champion.inputs)}
        return {**self.__dict__, "feature_names": list(self.feature_names), "champion": champion}


def arrays_sha256(arrays: dict[str, NDArray[Any]], names: tuple[str, ...] = TREE_ARRAYS) -> str:
    """SHA-256 over the arrays ``names`` in that order (dtype, shape and bytes)."""
    digest = hashlib.sha256()
    for name in names:
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def checksums_text(contents: dict[str, bytes]) -> str:
    """``sha256sum``'s format over the files: ``<hex digest>  <name>`` a line, by name."""
    return "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(contents.items()))


def _verified_files(folder: Path) -> dict[str, bytes]:
    """Every file ``checksums.sha256`` lists, read and checked; no file may be missing, unlisted or changed."""
    try:
        listing = (folder / CHECKSUMS_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelBundleCorruptError(
            f"model bundle {folder} has no readable {CHECKSUMS_FILE}, so its files cannot be verified ({exc}); "
            "re-package the model (kedro run --pipelines package,champion)"
        ) from exc
    expected: dict[str, str] = {}
    for line in listing.splitlines():
        digest, _, name = line.partition("  ")
        expected[name] = digest
    present = {path.name for path in folder.iterdir() if path.is_file() and path.name != CHECKSUMS_FILE}
    problems = [f"{name} is missing" for name in sorted(set(expected) - present)]
    problems += [f"{name} is not in {CHECKSUMS_FILE}" for name in sorted(present - set(expected))]
    problems += [f"{CHECKSUMS_FILE} lists no {name}" for name in (MANIFEST_FILE, ARRAYS_FILE) if name not in expected]
    contents = {name: (folder / name).read_bytes() for name in sorted(set(expected) & present)}
    problems += [
        f"{name} does not match its checksum"
        for name, data in contents.items()
        if hashlib.sha256(data).hexdigest() != expected[name]
    ]
    if problems:
        raise ModelBundleCorruptError(
            f"model bundle {folder} failed its integrity check: {'; '.join(problems)}. It was edited or damaged "
            "after packaging: re-package it (kedro run --pipelines package,champion) or restore it from its source"
        )
    return contents


def _npz_arrays(contents: dict[str, bytes], name: str, names: tuple[str, ...], folder: Path) -> dict[str, NDArray[Any]]:
    """The arrays ``names`` of the bundle's ``.npz`` file ``name`` (no pickle)."""
    try:
        with np.load(io.BytesIO(contents[name]), allow_pickle=False) as npz:
            return {array: npz[array] for array in names}
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise ModelBundleCorruptError(f"unreadable {name} in {folder}: {exc}") from exc


def _npz_bytes(arrays: dict[str, NDArray[Any]]) -> bytes:
    """The arrays as an ``.npz`` file's bytes."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def average_path_length(n_samples: NDArray[Any]) -> NDArray[np.float64]:
    """``c(n)``: 0 for n <= 1, 1 for n == 2, else 2 (ln(n - 1) + gamma) - 2 (n - 1) / n."""
    n = np.asarray(n_samples, dtype=np.float64)
    result = np.zeros(n.shape)
    result[n == 2] = 1.0
    big = n > 2
    result[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return result


class ModelBundle:
    """A loaded, verified bundle that scores feature vectors."""

    def __init__(
        self,
        manifest: ModelManifest,
        arrays: dict[str, NDArray[Any]],
        champion_arrays: dict[str, NDArray[Any]] | None = None,
        champion_model: str | None = None,
    ) -> None:
        """Verify and hold a bundle: the forest, and the champion's walk and model text when it has one.

        Raises:
            ModelBundleCorruptError: If the arrays do not match the manifest's checksums.

        """
        if arrays_sha256(arrays) != manifest.arrays_sha256:
            raise ModelBundleCorruptError(
                f"model {manifest.model_version}: array checksum does not match the manifest; "
                "re-package the model (kedro run --pipelines package,champion)"
            )
        champion = manifest.champion
        if (champion is None) != (champion_arrays is None) or (champion is None) != (champion_model is None):
            raise ModelBundleCorruptError(f"model {manifest.model_version}: the champion's manifest and files disagree")
        if champion is not None and champion_arrays is not None:
            from streamflow.core.boosting import BOOSTED_ARRAYS, champion_features, champion_inputs

            features = champion_features(champion.inputs)
            if features[: len(manifest.feature_names)] != manifest.feature_names or champion.inputs != champion_inputs(
                features
            ):
                raise ModelFormatError(
                    f"model {manifest.model_version}: the champion reads {list(champion.inputs)}, this code gives "
                    f"it {list(champion_inputs(manifest.feature_names))} and any features of its own; retrain it"
                )
            if arrays_sha256(champion_arrays, BOOSTED_ARRAYS) != champion.arrays_sha256:
                raise ModelBundleCorruptError(
                    f"model {manifest.model_version}: the champion's array checksum does not match the manifest; "
                    "re-package the model (kedro run --pipelines model)"
                )
        self.manifest = manifest
        self.arrays = arrays
        self.champion_arrays = champion_arrays
        self.champion_model = champion_model
        # offsets, left, right, feature, threshold, missing-value direction: what every walk reads
        self._tree = (
            arrays["tree_offsets"].astype(np.int64),
            arrays["left"].astype(np.int32),
            arrays["right"].astype(np.int32),
            arrays["feature"].astype(np.int32),
            arrays["threshold"].astype(np.float64),
            arrays["missing_left"].astype(np.uint8),
        )
        self._nodes = walk_nodes(*self._tree[1:])  # what the depth walk reads
        self._leaf_value = arrays["leaf_value"].astype(np.float64)
        self._node_value = arrays["node_value"].astype(np.float64)
        low, high = manifest.score_normalisation["low"], manifest.score_normalisation["high"]
        self._norm_low = low
        self._norm_span = high - low if high > low else 1.0
        self._one_row_walker: _OneRow | None = None
        self._tree_shap: Any = None  # streamflow.core.boosting.TreeShap, made on the first alert
        self._champion_walk: tuple[NDArray[Any], NDArray[Any], NDArray[Any]] | None = None

    def champion_probabilities(self, inputs: NDArray[Any]) -> NDArray[np.float64]:
        """The champion's fraud probability of each row of its inputs (``manifest.champion.inputs``, in order).

        Raises:
            ModelMissingError: The bundle has no champion.

        """
        champion, _ = self._champion()
        from streamflow.core.boosting import boosted_probabilities

        return boosted_probabilities(inputs, self.champion_walk(), champion.sigmoid)

    def champion_scores(self, inputs: NDArray[Any]) -> NDArray[np.float64]:
        """The champion's score of each row of its inputs: its probability, 1.0 on a hard override (the blacklist).

        Raises:
            ModelMissingError: The bundle has no champion.

        """
        champion, _ = self._champion()
        from streamflow.core.boosting import boosted_scores

        return boosted_scores(inputs, self.champion_walk(), champion.sigmoid, self.override_input)

    def champion_walk(self) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
        """What the champion's walk reads (``streamflow.core.boosting.boosted_walk``), made once.

        Raises:
            ModelMissingError: The bundle has no champion.

        """
        if self._champion_walk is None:
            from streamflow.core.boosting import boosted_walk

            self._champion_walk = boosted_walk(self._champion()[1])
        return self._champion_walk

    @property
    def override_input(self) -> int:
        """Where the hard override's verdict sits in the champion's inputs."""
        from streamflow.core.boosting import OVERRIDE_RULE

        champion, _ = self._champion()
        return champion.inputs.index(OVERRIDE_RULE)

    @property
    def input_features(self) -> tuple[str, ...]:
        """The features the bundle reads, in order: the champion's (the forest's first), else the forest's."""
        champion = self.manifest.champion
        if champion is None:
            return self.manifest.feature_names
        from streamflow.core.boosting import champion_features

        return champion_features(champion.inputs)

    def champion_top_contributions(self, inputs: Sequence[float] | NDArray[Any], k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` inputs pushing this row of the champion's inputs most towards fraud (TreeSHAP), strongest first.

        Raises:
            ModelMissingError: The bundle has no champion.
            ModelLibraryError: LightGBM, whose predictor computes them, is not installed.

        """
        champion, _ = self._champion()
        if self._tree_shap is None:
            from streamflow.core.boosting import TreeShap

            self._tree_shap = TreeShap(cast(str, self.champion_model), len(champion.inputs))
        values = self._tree_shap(inputs)
        order = np.argsort(-values, kind="stable")[:k]
        return [(champion.inputs[i], float(values[i])) for i in order]

    def _champion(self) -> tuple[ChampionManifest, dict[str, NDArray[Any]]]:
        champion = self.manifest.champion
        if champion is None or self.champion_arrays is None:
            raise ModelMissingError(f"model {self.manifest.model_version} has no champion")
        return champion, self.champion_arrays

    def check_features(self, names: tuple[str, ...], merchant_lag_ms: int | None = None) -> None:
        """Refuse to score features other than the ones the model was trained on, in its order, the same way.

        Args:
            names: The configured features (``features.model``, then ``features.champion_only``).
            merchant_lag_ms: The configured ``features.merchant_lag_minutes`` in ms (``None``: not checked).

        Raises:
            ModelFeatureError: The bundle's :attr:`input_features` are not ``names``, or its merchant
                features were computed behind another lag.

        """
        manifest = self.manifest
        if self.input_features != tuple(names):
            raise ModelFeatureError(
                f"model {manifest.model_version} expects features {list(self.input_features)}, the configured "
                f"features are {list(names)} (features.model, features.champion_only); retrain the model"
            )
        trained_lag = manifest.merchant_lag_ms
        if trained_lag is not None and merchant_lag_ms is not None and trained_lag != merchant_lag_ms:
            raise ModelFeatureError(
                f"model {manifest.model_version} read merchant features {trained_lag / 60_000:g} minutes behind "
                f"the event, the configured features.merchant_lag_minutes is {merchant_lag_ms / 60_000:g}; "
                "set it back or retrain the model"
            )

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the one-row walker and the TreeSHAP predictor (they hold C pointers into this process)."""
        return {**self.__dict__, "_one_row_walker": None, "_tree_shap": None}

    @classmethod
    def load(cls, folder: str | Path) -> ModelBundle:
        """Load a bundle folder written by :meth:`save`, after checking every file against ``checksums.sha256``.

        Raises:
            ModelMissingError: No bundle in ``folder``.
            ModelBundleCorruptError: A file is missing, unlisted, does not match its checksum or cannot be read.
            ModelFormatError: The manifest holds a value of the wrong type, or another format version.
            ModelFeatureError: The bundle was trained on other features.

        """
        folder = Path(folder)
        if not (folder / MANIFEST_FILE).is_file():
            raise ModelMissingError(
                f"no model bundle in {folder} (expected {MANIFEST_FILE}, {ARRAYS_FILE} and {CHECKSUMS_FILE}); "
                "train one with: kedro run --pipelines model"
            )
        contents = _verified_files(folder)
        try:
            raw = json.loads(contents[MANIFEST_FILE])
            manifest = build_dataclass(ModelManifest, raw, path="manifest")
        except (ValueError, ConfigError) as exc:
            raise ModelFormatError(f"unreadable manifest in {folder}: {exc}") from exc
        if manifest.format_version not in READABLE_FORMAT_VERSIONS:
            raise ModelFormatError(
                f"bundle format {manifest.format_version} is not supported (this code reads "
                f"{', '.join(map(str, READABLE_FORMAT_VERSIONS))})"
            )
        arrays = _npz_arrays(contents, ARRAYS_FILE, TREE_ARRAYS, folder)
        if manifest.champion is None:
            return cls(manifest, arrays)
        from streamflow.core.boosting import BOOSTED_ARRAYS

        champion_arrays = _npz_arrays(contents, CHAMPION_ARRAYS_FILE, BOOSTED_ARRAYS, folder)
        try:
            champion_model = contents[CHAMPION_MODEL_FILE].decode("utf-8")
        except (KeyError, UnicodeDecodeError) as exc:
            raise ModelBundleCorruptError(f"no readable {CHAMPION_MODEL_FILE} in {folder}: {exc}") from exc
        return cls(manifest, arrays, champion_arrays, champion_model)

    def save(self, folder: str | Path) -> None:
        """Write the arrays (``.npz``, no pickle), the manifest, the champion's files and the checksums of all."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        contents = {
            ARRAYS_FILE: _npz_bytes(self.arrays),
            MANIFEST_FILE: json.dumps(self.manifest.to_dict(), indent=2).encode("utf-8"),
        }
        if self.champion_arrays is not None and self.champion_model is not None:
            contents[CHAMPION_ARRAYS_FILE] = _npz_bytes(self.champion_arrays)
            contents[CHAMPION_MODEL_FILE] = self.champion_model.encode("utf-8")
        for name, data in contents.items():
            (folder / name).write_bytes(data)
        (folder / CHECKSUMS_FILE).write_text(checksums_text(contents), encoding="utf-8")

    def path_lengths(self, features: NDArray[Any]) -> NDArray[np.float64]:
        """Summed path lengths over the trees (``depth(x)``) for each row."""
        x32 = np.ascontiguousarray(np.atleast_2d(features), dtype=np.float32)
        out = np.zeros(x32.shape[0], dtype=np.float64)
        _KERNELS.depths(x32, *self.walk_arrays(), out)
        return out

    def score_samples(self, features: NDArray[Any]) -> NDArray[np.float64]:
        """scikit-learn's ``score_samples``: the opposite of the anomaly score (lower = more abnormal)."""
        depths = self.path_lengths(features)
        anomaly = np.zeros_like(depths)
        anomalies(depths, self.manifest.denominator, anomaly)
        return -anomaly

    def ml_scores(self, features: NDArray[Any]) -> NDArray[np.float64]:
        """Anomaly scores normalised to [0, 1] with the training window's low and high marks."""
        depths = self.path_lengths(features)
        scores = np.zeros_like(depths)
        normalised_anomalies(depths, *self.normalisation, scores)
        return scores

    def ml_score(self, features: tuple[float, ...] | list[float]) -> float:
        """``ml_scores`` for one feature vector (the same walk and arithmetic, one row)."""
        return self.ml_score_of_depth(self._one_row().depth(features))

    def ml_score_of_depth(self, depth: float) -> float:
        """The normalised score of one row whose summed path length is ``depth``."""
        return float(normalised_anomaly(depth, *self.normalisation))

    @property
    def normalisation(self) -> tuple[float, float, float]:
        """What turns a summed path length into the normalised score: the denominator, the low mark, the span."""
        return self.manifest.denominator, self._norm_low, self._norm_span

    def walk_arrays(self) -> tuple[NDArray[Any], ...]:
        """The arrays a depth walk reads: where each tree starts, the ``WALK_NODE`` records, the leaves' values."""
        return self._tree[0], self._nodes, self._leaf_value

    def _one_row(self) -> _OneRow:
        if self._one_row_walker is None:
            n_features = len(self.manifest.feature_names)
            self._one_row_walker = _OneRow(self._tree, self.walk_arrays(), self._node_value, n_features)
        return self._one_row_walker

    def blend(self, ml_score: float, rules_score: float) -> float:
        """``alpha * ml_score + (1 - alpha) * rules_score``."""
        alpha = self.manifest.alpha
        return alpha * ml_score + (1.0 - alpha) * rules_score

    def contributions(self, features: tuple[float, ...] | list[float] | NDArray[Any]) -> NDArray[np.float64]:
        """Per-feature push towards anomaly for one vector (path attribution, Saabas).

        Along each tree's path, a split on feature ``f`` moves the expected path length
        from the node's to the child's; the mean over trees of those moves, negated (a
        shorter path is more abnormal), is the feature's contribution, in path-length
        units like SHAP's. They add up to ``(expected depth - depth(x)) / n_trees``.
        """
        return -self._one_row().contributions(features) / self.manifest.n_trees

    def top_contributions(self, features: tuple[float, ...] | list[float], k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` features pushing this vector most towards anomaly, strongest first."""
        values = self.contributions(features)
        order = np.argsort(-values, kind="stable")[:k]
        names = self.manifest.feature_names
        return [(names[i], float(values[i])) for i in order]


def walk_nodes(
    left: NDArray[Any], right: NDArray[Any], feature: NDArray[Any], threshold: NDArray[Any], missing_left: NDArray[Any]
) -> NDArray[Any]:
    """The trees' nodes as ``WALK_NODE`` records, each threshold rounded down to float32.

    The walk compares float32 inputs, and for every float32 ``x``, ``x <= t`` exactly when
    ``x <= t32``, ``t32`` the largest float32 not above ``t``: the paths are scikit-learn's.

    Raises:
        ModelFormatError: a split reads a feature beyond int16.

    """
    if feature.shape[0] and int(feature.max()) > np.iinfo(np.int16).max:
        raise ModelFormatError(f"the trees read feature {int(feature.max())}: at most 32767 features can be walked")
    with np.errstate(over="ignore"):  # beyond float32: inf, then the largest float32
        nearest = threshold.astype(np.float32)
    below = np.where(nearest.astype(np.float64) > threshold, np.nextafter(nearest, np.float32(-np.inf)), nearest)
    nodes = np.zeros(left.shape[0], dtype=WALK_NODE)
    nodes["left"], nodes["right"], nodes["feature"] = left, right, feature
    nodes["missing_left"], nodes["threshold"] = missing_left, below
    return nodes


def _next_node(x, at, base, nodes):  # type: ignore[no-untyped-def]
    # The node x goes to from node `at` (children count from the tree's `base`); a leaf stays.
    node = nodes[at]
    if node["left"] == LEAF:
        return at
    value = x[node["feature"]]
    go_left = node["missing_left"] != 0 if math.isnan(value) else value <= node["threshold"]
    return base + (node["left"] if go_left else node["right"])


def _leaves_of_four(x, offsets, first, nodes):  # type: ignore[no-untyped-def]
    # The leaves x reaches in trees first .. first + 3 (past the last tree, the last stands in),
    # walked side by side: four independent walks overlap in the CPU, where one walk waits on
    # each node's loads in turn (about 1.3 times faster than tree by tree).
    last = offsets.shape[0] - 2
    base0, base1 = offsets[first], offsets[min(first + 1, last)]
    base2, base3 = offsets[min(first + 2, last)], offsets[min(first + 3, last)]
    node0, node1, node2, node3 = base0, base1, base2, base3
    while (
        nodes[node0]["left"] != LEAF
        or nodes[node1]["left"] != LEAF
        or nodes[node2]["left"] != LEAF
        or nodes[node3]["left"] != LEAF
    ):
        node0 = next_node(x, node0, base0, nodes)
        node1 = next_node(x, node1, base1, nodes)
        node2 = next_node(x, node2, base2, nodes)
        node3 = next_node(x, node3, base3, nodes)
    return node0, node1, node2, node3


def _walk_depths(x32, offsets, nodes, leaf_value, out):  # type: ignore[no-untyped-def]
    # Rows in blocks of ROW_BLOCK (blocks run in parallel under numba's prange); inside a
    # block, four trees at a time so their nodes stay in cache. Each row's trees are added in
    # order, as scikit-learn adds them, so sums are bit-identical for any thread count.
    n_trees = offsets.shape[0] - 1
    n_rows = x32.shape[0]
    for block in prange((n_rows + ROW_BLOCK - 1) // ROW_BLOCK):
        start = block * ROW_BLOCK
        stop = min(start + ROW_BLOCK, n_rows)
        for first in range(0, n_trees, TREES_AT_ONCE):
            for i in range(start, stop):
                leaves = leaves_of_four(x32[i], offsets, first, nodes)
                for tree in range(min(TREES_AT_ONCE, n_trees - first)):
                    out[i] += leaf_value[leaves[tree]]


def _walk_contributions(x32, offsets, left, right, feature, threshold, missing_left, node_value, out):  # type: ignore[no-untyped-def]
    n_trees = offsets.shape[0] - 1
    for tree in range(n_trees):
        base = offsets[tree]
        node = 0
        while left[base + node] != LEAF:
            split = feature[base + node]
            value = x32[split]
            go_left = missing_left[base + node] != 0 if math.isnan(value) else value <= threshold[base + node]
            child = left[base + node] if go_left else right[base + node]
            out[split] += node_value[base + child] - node_value[base + node]
            node = child


@compiled
def anomaly(depth: float, denominator: float) -> float:
    """The anomaly score of a row whose summed path length is ``depth``: ``2 ** (-depth / denominator)``.

    libm's pow, one row at a time: numpy's vectorised pow may differ from it in the last bit.
    """
    return 1.0 if denominator == 0 else math.pow(2.0, -(depth / denominator))


@compiled
def normalised_anomaly(depth: float, denominator: float, low: float, span: float) -> float:
    """The model's score in [0, 1]: the anomaly score between the training window's low and high marks."""
    return min(max((anomaly(depth, denominator) - low) / span, 0.0), 1.0)


@compiled
def anomalies(depths: Any, denominator: float, out: Any) -> None:
    """:func:`anomaly` of each summed path length."""
    for row in range(depths.shape[0]):
        out[row] = anomaly(depths[row], denominator)


@compiled
def normalised_anomalies(depths: Any, denominator: float, low: float, span: float, out: Any) -> None:
    """:func:`normalised_anomaly` of each summed path length."""
    for row in range(depths.shape[0]):
        out[row] = normalised_anomaly(depths[row], denominator, low, span)


# Module-level, not closure variables of the C entry points: numba keys its cache by the
# closure's contents, and a compiled function's differ from process to process.
next_node: Any = compiled(_next_node)
leaves_of_four: Any = compiled(_leaves_of_four)
serial_depths: Any = compiled(_walk_depths)
_serial_contributions: Any = compiled(_walk_contributions)


class _Kernels:
    """The tree walks, compiled by numba on first use when it is installed.

    Small batches (one event) take the serial build: starting threads would cost more
    than the walk. Large batches spread row blocks over the cores.
    """

    def __init__(self) -> None:
        self._compiled: tuple[Any, Any, Any] | None = None

    def _get(self) -> tuple[Any, Any, Any]:
        if self._compiled is None:
            try:
                from numba import njit
            except ImportError:  # pragma: no cover - numba ships with shap in this environment
                self._compiled = (_walk_depths, _walk_depths, _walk_contributions)
            else:
                self._compiled = (
                    serial_depths,
                    # not cached: the on-disk cache is keyed by the function, so it would
                    # hand this build the serial one's machine code
                    njit(cache=False, nogil=True, parallel=True)(_walk_depths),
                    _serial_contributions,
                )
        return self._compiled

    def depths(self, x32: NDArray[np.float32], *args: Any) -> None:
        serial, parallel, _ = self._get()
        (parallel if x32.shape[0] >= PARALLEL_MIN_ROWS else serial)(x32, *args)

    def contributions(self, *args: Any) -> None:
        self._get()[2](*args)


_KERNELS = _Kernels()


class _OneRow:
    """One feature vector at a time, through C entry points that take raw pointers.

    The walks are the same numba kernels, wrapped in ``numba.cfunc`` and called through
    ctypes with buffers allocated once, so no array passes numba's boxing layer. That
    layer hands numba's runtime objects that later take the GIL with ``PyGILState_Ensure``,
    which deadlocks in an interpreter embedded in the JVM (PyFlink's thread mode).
    Without numba the walks run in Python, as the batch kernels do.
    """

    def __init__(
        self,
        tree: tuple[NDArray[Any], ...],
        walk: tuple[NDArray[Any], ...],
        node_value: NDArray[Any],
        n_features: int,
    ) -> None:
        self._tree = tree  # what the attribution walks: offsets, children, features, thresholds, missing
        self._walk = walk  # what the depth walks: offsets, WALK_NODE records, leaf values
        self._row = struct.Struct(f"={n_features}f")
        self._node_value = node_value
        self._x = np.zeros((1, n_features), dtype=np.float32)
        self._x_bytes = memoryview(self._x.data).cast("B")
        self._depth = np.zeros(1, dtype=np.float64)
        self._push = np.zeros(n_features, dtype=np.float64)
        entry_points = _c_entry_points()
        if entry_points is None:
            self._c_depth = self._c_push = None
            return
        depth_entry, push_entry = entry_points
        n_trees, x = tree[0].shape[0] - 1, _address(self._x)
        self._c_depth = functools.partial(
            depth_entry, x, n_features, n_trees, *map(_address, walk), _address(self._depth)
        )
        self._c_push = functools.partial(
            push_entry, x, n_features, n_trees, *map(_address, tree), _address(node_value), _address(self._push)
        )

    def _set_row(self, features: tuple[float, ...] | list[float] | NDArray[Any]) -> None:
        """Write the features into the float32 row (struct rounds as numpy's cast does, faster)."""
        try:
            self._row.pack_into(self._x_bytes, 0, *features)
        except (OverflowError, struct.error):  # beyond float32 (numpy makes it inf) or a wrong count
            self._x[0, :] = features

    def depth(self, features: tuple[float, ...] | list[float] | NDArray[Any]) -> float:
        """Summed path length over the trees."""
        self._set_row(features)
        self._depth[0] = 0.0
        if self._c_depth is not None:
            self._c_depth()
        else:
            _KERNELS.depths(self._x, *self._walk, self._depth)
        return float(self._depth[0])

    def contributions(self, features: tuple[float, ...] | list[float] | NDArray[Any]) -> NDArray[np.float64]:
        """Summed node-value moves per feature (see ``ModelBundle.contributions``)."""
        self._set_row(features)
        self._push[:] = 0.0
        if self._c_push is not None:
            self._c_push()
        else:
            _KERNELS.contributions(self._x[0], *self._tree, self._node_value, self._push)
        return self._push.copy()


def _address(array: NDArray[Any]) -> int:
    """The address of the array's data (the array must outlive its use)."""
    assert array.flags.c_contiguous
    return int(array.ctypes.data)


def _tree_views(offsets_p, left_p, right_p, feature_p, threshold_p, missing_p, values_p, n_trees):  # type: ignore[no-untyped-def]
    offsets = carray(offsets_p, (n_trees + 1,))
    n_nodes = offsets[n_trees]
    return (
        offsets,
        carray(left_p, (n_nodes,)),
        carray(right_p, (n_nodes,)),
        carray(feature_p, (n_nodes,)),
        carray(threshold_p, (n_nodes,)),
        carray(missing_p, (n_nodes,)),
        carray(values_p, (n_nodes,)),
    )


_compiled_tree_views: Any = compiled(_tree_views)


def _depth_entry(x_p, n_features, n_trees, offsets_p, nodes_p, leaf_p, out_p):  # type: ignore[no-untyped-def]
    offsets = carray(offsets_p, (n_trees + 1,))
    n_nodes = offsets[n_trees]
    nodes = carray(nodes_p, (n_nodes * _WALK_NODE_BYTES,)).view(WALK_NODE)
    serial_depths(carray(x_p, (1, n_features)), offsets, nodes, carray(leaf_p, (n_nodes,)), carray(out_p, (1,)))


def _push_entry(  # type: ignore[no-untyped-def]
    x_p, n_features, n_trees, offsets_p, left_p, right_p, feature_p, threshold_p, missing_p, node_p, out_p
):
    tree = _compiled_tree_views(offsets_p, left_p, right_p, feature_p, threshold_p, missing_p, node_p, n_trees)
    _serial_contributions(carray(x_p, (n_features,)), *tree, carray(out_p, (n_features,)))


@functools.cache
def _c_entry_points() -> tuple[Any, Any] | None:
    """Ctypes callables of the two walks compiled as C functions, or ``None`` without numba."""
    try:
        from numba import cfunc, types
    except ImportError:  # pragma: no cover - numba ships with shap in this environment
        return None
    x, count, nodes = types.CPointer(types.float32), types.int64, types.CPointer(types.uint8)
    offsets, children, values = types.CPointer(types.int64), types.CPointer(types.int32), types.CPointer(types.float64)
    depth = types.void(x, count, count, offsets, nodes, values, values)
    push = types.void(x, count, count, offsets, children, children, children, values, nodes, values, values)
    return (
        _keeping_the_gil(cfunc(depth, cache=True, nopython=True)(_depth_entry)),
        _keeping_the_gil(cfunc(push, cache=True, nopython=True)(_push_entry)),
    )


def _keeping_the_gil(compiled: Any) -> Any:
    """A ctypes callable of a compiled C function: addresses as plain ints, the GIL kept.

    A walk takes microseconds: typed ctypes pointers cost about 0.4 us each to pass, and
    releasing the GIL and taking it back costs more than the walk (in PyFlink's embedded
    interpreter another task's thread takes it in between).
    """
    argtypes = [
        ctypes.c_void_p if issubclass(argtype, ctypes._Pointer) else argtype for argtype in compiled.ctypes.argtypes
    ]
    return ctypes.PYFUNCTYPE(None, *argtypes)(compiled.address)
