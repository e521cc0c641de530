from pathlib import Path

import pandas as pd

from streamflow.datasets import OptionalPartitionedDataset

JSON_LINES = {"type": "pandas.JSONDataset", "load_args": {"lines": True}}


def test_a_missing_folder_loads_as_no_partitions(tmp_path: Path) -> None:
    dataset = OptionalPartitionedDataset(path=str(tmp_path / "dlq"), dataset=JSON_LINES, filename_suffix=".jsonl")
    assert dataset.load() == {}


def test_hidden_in_progress_files_alone_load_as_no_partitions(tmp_path: Path) -> None:
    bucket = tmp_path / "dlq/2026-01-01--00"
    bucket.mkdir(parents=True)
    (bucket / ".dlq-1.jsonl.inprogress.abc").write_text('{"error_code": "invalid_json"}\n')
    dataset = OptionalPartitionedDataset(path=str(tmp_path / "dlq"), dataset=JSON_LINES, filename_suffix=".jsonl")
    assert dataset.load() == {}


def test_existing_partitions_load_as_usual(tmp_path: Path) -> None:
    bucket = tmp_path / "dlq/2026-01-01--00"
    bucket.mkdir(parents=True)
    (bucket / "dlq-1.jsonl").write_text('{"error_code": "invalid_json"}\n')
    dataset = OptionalPartitionedDataset(path=str(tmp_path / "dlq"), dataset=JSON_LINES, filename_suffix=".jsonl")
    partitions = dataset.load()
    assert list(partitions) == ["2026-01-01--00/dlq-1"]
    pd.testing.assert_frame_equal(partitions["2026-01-01--00/dlq-1"](), pd.DataFrame({"error_code": ["invalid_json"]}))
