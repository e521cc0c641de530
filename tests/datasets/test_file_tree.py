from pathlib import Path

import pytest
from kedro.io.core import DatasetError

from streamflow.datasets import FileTreeDataset


def _tree(root: Path) -> None:
    (root / "model_bundle/2026-01-01T00.00.00.000Z").mkdir(parents=True)
    (root / "model_bundle/2026-01-01T00.00.00.000Z/manifest.json").write_text("{}")
    (root / "model_bundle/2026-01-01T00.00.00.000Z/forest.npz").write_bytes(b"12345")
    (root / "report.json").write_text("{}")


def test_load_lists_matching_entries_with_folder_sizes(tmp_path: Path) -> None:
    _tree(tmp_path)
    inventory = FileTreeDataset(path=str(tmp_path), pattern="*/*").load()
    assert inventory["path"].tolist() == ["model_bundle/2026-01-01T00.00.00.000Z"]
    assert inventory["size_bytes"].tolist() == [7]
    assert str(inventory["modified_at"].dt.tz) == "UTC"


def test_a_missing_root_is_an_empty_inventory(tmp_path: Path) -> None:
    inventory = FileTreeDataset(path=str(tmp_path / "absent"), pattern="*.jsonl").load()
    assert inventory.empty
    assert list(inventory.columns) == ["path", "modified_at", "size_bytes"]


def test_save_deletes_files_and_folders_and_skips_what_is_gone(tmp_path: Path) -> None:
    _tree(tmp_path)
    dataset = FileTreeDataset(path=str(tmp_path), pattern="*/*")
    dataset.save(["model_bundle/2026-01-01T00.00.00.000Z", "report.json"])
    dataset.save(["model_bundle/2026-01-01T00.00.00.000Z"])
    assert not (tmp_path / "model_bundle/2026-01-01T00.00.00.000Z").exists()
    assert not (tmp_path / "report.json").exists()
    assert (tmp_path / "model_bundle").is_dir()


@pytest.mark.parametrize("escape", ["../outside.txt", ".", "/etc/passwd"])
def test_save_refuses_paths_outside_the_root(tmp_path: Path, escape: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside.txt").write_text("keep")
    with pytest.raises(DatasetError, match="not inside"):
        FileTreeDataset(path=str(root), pattern="*").save([escape])
    assert (tmp_path / "outside.txt").exists()
