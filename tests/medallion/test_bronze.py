import hashlib

import pandas as pd

from streamflow.core.landing import split_lines
from streamflow.medallion.bronze import BRONZE_COLUMNS, ingest_files

NOW = pd.Timestamp("2026-02-01T00:00:00Z")


def test_split_lines_keeps_blank_lines_and_ignores_the_final_newline() -> None:
    assert split_lines(b'{"a":1}\n\n{"b":2}\n') == [b'{"a":1}', b"", b'{"b":2}']


def test_split_lines_handles_crlf_and_a_missing_final_newline() -> None:
    assert split_lines(b"x\r\ny") == [b"x", b"y"]


def test_an_empty_file_has_no_lines() -> None:
    assert split_lines(b"") == []


def test_every_line_of_every_file_lands_with_lineage_and_hash() -> None:
    files = {"b.jsonl": b"one\ntwo\n", "a.jsonl": b"\xff\xfe not utf-8\n", "empty.jsonl": b""}
    bronze = ingest_files(files, NOW)
    assert list(bronze.columns) == list(BRONZE_COLUMNS)
    assert bronze["source_file"].tolist() == ["a.jsonl", "b.jsonl", "b.jsonl"]
    assert bronze["line_number"].tolist() == [1, 1, 2]
    assert bronze["payload"].tolist() == [b"\xff\xfe not utf-8", b"one", b"two"]
    assert bronze["payload_hash"].tolist()[1] == hashlib.sha256(b"one").hexdigest()
    assert bronze["payload_size"].tolist() == [12, 3, 3]
    assert (bronze["ingested_at"] == NOW).all()


def test_no_files_give_an_empty_bronze_table() -> None:
    bronze = ingest_files({}, NOW)
    assert len(bronze) == 0
    assert list(bronze.columns) == list(BRONZE_COLUMNS)
