from pathlib import Path

import pandas as pd
import pytest

from streamflow.datasets import OptionalPartitionedDataset
from streamflow.datasets.optional_partitions import MissingInputError

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


def test_a_required_input_with_nothing_there_is_an_error_naming_it(tmp_path: Path) -> None:
    dataset = OptionalPartitionedDataset(
        path=str(tmp_path / "alerts"), dataset=JSON_LINES, filename_suffix=".jsonl", required=True
    )
    with pytest.raises(MissingInputError, match=rf"required_input_missing\] {tmp_path / 'alerts'} does not exist"):
        dataset.load()
    (tmp_path / "alerts").mkdir()  # there, with no alert yet: a legitimate empty input
    assert dataset.load() == {}
    assert dataset.loaded_empty


def test_an_optional_input_with_nothing_there_says_so(tmp_path: Path) -> None:
    dataset = OptionalPartitionedDataset(path=str(tmp_path / "alerts"), dataset=JSON_LINES, filename_suffix=".jsonl")
    assert dataset.load() == {}
    assert dataset.loaded_empty
    assert dataset.location == str(tmp_path / "alerts")
