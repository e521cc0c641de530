"""The bundle scorer against scikit-learn's IsolationForest, and the bundle's integrity checks."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from streamflow.core.features import FEATURE_NAMES
from streamflow.core.forest import (
    ARRAYS_FILE,
    CHECKSUMS_FILE,
    MANIFEST_FILE,
    ModelBundle,
    ModelBundleCorruptError,
    ModelFeatureError,
    ModelFormatError,
    ModelMissingError,
    checksums_text,
)
from streamflow.datasets import ModelBundleDataset
from streamflow.modeling.packaging import build_bundle

RNG = np.random.default_rng(1234)


def _data(rows: int, *, nan_share: float = 0.0, scale: float = 1.0) -> np.ndarray:
    data = RNG.standard_t(df=3, size=(rows, 6)) * scale
    data[:, 1] = np.abs(np.round(data[:, 1]))  # an integer-like column, with ties at thresholds
    if nan_share:
        data[RNG.random(data.shape) < nan_share] = np.nan
    return data


def _bundle(forest: IsolationForest, **manifest: Any) -> ModelBundle:
    defaults: dict[str, Any] = {
        "model_version": "test",
        "training_window": {"start": "a", "end": "b"},
        "training_rows": 1,
        "score_normalisation": {"low": 0.4, "high": 0.8},
        "alert_threshold": 0.5,
        "alpha": 0.3,
    }
    return build_bundle(forest, **{**defaults, **manifest})


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"max_features": 0.5},
        {"bootstrap": True},
        {"max_samples": 16},
        {"max_samples": 3, "bootstrap": True, "max_features": 0.34},
    ],
    ids=["default", "max-features-half", "bootstrap", "small-max-samples", "tiny-everything"],
)
def test_score_samples_equals_scikit_learn_on_100k_rows_with_nan(options: dict[str, Any]) -> None:
    forest = IsolationForest(n_estimators=100, random_state=7, **options).fit(_data(4_000, nan_share=0.03))
    rows = _data(100_000, nan_share=0.05, scale=2.0)
    expected = forest.score_samples(rows)
    got = _bundle(forest).score_samples(rows)
    assert np.max(np.abs(expected - got)) <= 1e-12


def test_float32_inputs_on_either_side_of_each_threshold_take_scikit_learn_paths() -> None:
    # the walk reads thresholds rounded down to float32 (core.forest.walk_nodes): exact for float32 inputs
    forest = IsolationForest(n_estimators=20, random_state=5).fit(_data(1_000))
    bundle = _bundle(forest)
    thresholds = bundle.arrays["threshold"][bundle.arrays["left"] != -1]
    nearest = thresholds.astype(np.float32)
    below = np.where(nearest > thresholds, np.nextafter(nearest, np.float32(-np.inf)), nearest)
    sides = np.concatenate([below, np.nextafter(below, np.float32(np.inf))])
    rows = np.repeat(sides[:, None], 6, axis=1)  # every feature at the value: each split of that feature is tested
    assert np.max(np.abs(bundle.score_samples(rows) - forest.score_samples(rows))) <= 1e-12


@pytest.mark.parametrize("n_trees", [1, 2, 3, 5, 7])
def test_forests_that_leave_a_group_of_four_trees_short_score_as_scikit_learn(n_trees: int) -> None:
    # a row walks four trees side by side (core.forest._leaves_of_four): the last group is short here
    forest = IsolationForest(n_estimators=n_trees, random_state=n_trees).fit(_data(1_000, nan_share=0.03))
    rows = _data(2_000, nan_share=0.05, scale=2.0)
    assert np.max(np.abs(forest.score_samples(rows) - _bundle(forest).score_samples(rows))) <= 1e-12


def test_inputs_are_cast_to_float32_like_scikit_learn() -> None:
    forest = IsolationForest(n_estimators=50, random_state=0).fit(_data(1_000))
    bundle = _bundle(forest)
    thresholds = bundle.arrays["threshold"][bundle.arrays["left"] != -1]
    near = np.tile(np.nextafter(thresholds[:6], np.inf), (6, 1)).T  # just above a split in float64
    # libm's pow may differ from numpy's in the last bit; a path taken differently would move a score by ~1e-3
    assert np.max(np.abs(bundle.score_samples(near) - forest.score_samples(near))) <= 1e-12


def test_single_event_scores_like_the_batch() -> None:
    forest = IsolationForest(n_estimators=30, random_state=0).fit(_data(1_000))
    bundle = _bundle(forest)
    rows = _data(20)
    batch = bundle.ml_scores(rows)
    assert [bundle.ml_score(tuple(row)) for row in rows] == batch.tolist()


def test_ml_scores_are_normalised_and_blend_weights_alpha() -> None:
    forest = IsolationForest(n_estimators=30, random_state=0).fit(_data(1_000))
    bundle = _bundle(forest, alpha=0.25)
    scores = bundle.ml_scores(_data(500, scale=5.0))
    assert scores.min() >= 0.0
    assert scores.max() <= 1.0
    assert bundle.blend(0.8, 0.4) == pytest.approx(0.25 * 0.8 + 0.75 * 0.4)


def test_contributions_add_up_to_the_expected_minus_actual_path_length() -> None:
    forest = IsolationForest(n_estimators=40, random_state=3).fit(_data(2_000))
    bundle = _bundle(forest)
    row = _data(1, scale=4.0)[0]
    roots = bundle.arrays["node_value"][bundle.arrays["tree_offsets"][:-1]]
    expected_minus_actual = (roots.sum() - bundle.path_lengths(row.reshape(1, -1))[0]) / 40
    assert bundle.contributions(row).sum() == pytest.approx(expected_minus_actual, rel=1e-9)
    top = bundle.top_contributions(tuple(row))
    assert len(top) == 3
    assert top[0][1] >= top[1][1] >= top[2][1]


def _saved(tmp_path: Path) -> tuple[Path, ModelBundle]:
    bundle = _bundle(IsolationForest(n_estimators=10, random_state=0).fit(_data(300)))
    ModelBundleDataset(filepath=str(tmp_path / "bundle")).save(bundle)
    return tmp_path / "bundle", bundle


def test_a_saved_bundle_loads_back_identical(tmp_path: Path) -> None:
    folder, original = _saved(tmp_path)
    assert sorted(path.name for path in folder.iterdir()) == [CHECKSUMS_FILE, ARRAYS_FILE, MANIFEST_FILE]  # no pickle
    loaded = ModelBundle.load(folder)
    rows = _data(100)
    assert loaded.manifest == original.manifest
    assert np.array_equal(loaded.score_samples(rows), original.score_samples(rows))


def test_a_tampered_array_fails_the_checksum(tmp_path: Path) -> None:
    folder, _ = _saved(tmp_path)
    with np.load(folder / ARRAYS_FILE) as npz:
        arrays = dict(npz)
    arrays["threshold"][0] += 1.0
    np.savez(folder / ARRAYS_FILE, **arrays)
    with pytest.raises(ModelBundleCorruptError, match=r"forest\.npz does not match its checksum") as caught:
        ModelBundle.load(folder)
    assert caught.value.code == "model_bundle_corrupt"


def _reseal(folder: Path) -> None:
    """Write the checksums of the bundle's files as they now are (what a forger would do)."""
    contents = {name: (folder / name).read_bytes() for name in (ARRAYS_FILE, MANIFEST_FILE)}
    (folder / CHECKSUMS_FILE).write_text(checksums_text(contents))


def _edit_manifest(folder: Path, **changes: object) -> None:
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    (folder / MANIFEST_FILE).write_text(json.dumps({**manifest, **changes}))


@pytest.mark.parametrize("changes", [{"alert_threshold": 0.0}, {"alpha": "0.3"}, {"model_version": "iforest-fake"}])
def test_an_edited_manifest_fails_the_checksum(tmp_path: Path, changes: dict[str, object]) -> None:
    folder, _ = _saved(tmp_path)
    _edit_manifest(folder, **changes)
    with pytest.raises(ModelBundleCorruptError, match=r"manifest\.json does not match its checksum"):
        ModelBundle.load(folder)


def test_a_corrupt_npz_is_a_coded_error_not_a_zip_error(tmp_path: Path) -> None:
    folder, _ = _saved(tmp_path)
    (folder / ARRAYS_FILE).write_bytes(b"PK\x03\x04 not a zip at all")
    with pytest.raises(ModelBundleCorruptError):
        ModelBundle.load(folder)
    (folder / ARRAYS_FILE).write_bytes(b"PK\x03\x04 not a zip at all")  # with its checksum updated, still coded
    _reseal(folder)
    with pytest.raises(ModelBundleCorruptError, match=r"unreadable forest\.npz"):
        ModelBundle.load(folder)


def test_every_file_of_the_bundle_is_covered(tmp_path: Path) -> None:
    folder, _ = _saved(tmp_path)
    (folder / "extra.json").write_text("{}")
    with pytest.raises(ModelBundleCorruptError, match=r"extra.json is not in checksums.sha256"):
        ModelBundle.load(folder)
    (folder / "extra.json").unlink()
    (folder / CHECKSUMS_FILE).unlink()
    with pytest.raises(ModelBundleCorruptError, match="cannot be verified"):
        ModelBundle.load(folder)


def test_a_manifest_value_of_the_wrong_type_is_a_format_error_even_with_its_checksum(tmp_path: Path) -> None:
    folder, _ = _saved(tmp_path)
    _edit_manifest(folder, alpha="0.3")
    _reseal(folder)
    with pytest.raises(ModelFormatError, match=r"manifest.alpha: expected a number, got '0.3'"):
        ModelBundle.load(folder)


def test_a_bundle_for_other_features_is_refused(tmp_path: Path) -> None:
    folder, _ = _saved(tmp_path)
    _edit_manifest(folder, feature_names=list(reversed(FEATURE_NAMES)))
    _reseal(folder)
    bundle = ModelBundle.load(folder)  # a bundle for other features loads; scoring the configured ones is refused
    with pytest.raises(ModelFeatureError, match="retrain"):
        bundle.check_features(FEATURE_NAMES)


def test_missing_and_unreadable_bundles_have_their_own_codes(tmp_path: Path) -> None:
    with pytest.raises(ModelMissingError) as missing:
        ModelBundle.load(tmp_path / "nowhere")
    assert missing.value.code == "model_missing"
    folder, _ = _saved(tmp_path)
    (folder / MANIFEST_FILE).write_text("{not json")
    _reseal(folder)
    with pytest.raises(ModelFormatError):
        ModelBundle.load(folder)
