"""Landed outcomes to silver: every record used or quarantined with a code, the invariant checked."""

import gzip
import json

import pandas as pd
import pytest

from streamflow.medallion.outcomes import OutcomesMatchNothingError, match_transactions, read_outcomes

HEADER = "transaction_id,is_fraud,labelled_at,source,customer_id,store_id,event_time"
NOW_MS = pd.Timestamp("2026-03-01T00:00:00Z").value // 1_000_000
TRANSACTIONS = pd.DataFrame(
    {
        "transaction_id": ["T1", "T2", "T3"],
        "customer_id": ["C1", "C2", "C3"],
        "store_id": ["S1", "S2", "S3"],
        "event_time_ms": [pd.Timestamp("2026-01-05T11:00:00Z").value // 1_000_000] * 3,
    }
)


def _row(transaction: str, *, fraud: str = "true", customer: str | None = None, labelled: str = "2026-01-20") -> str:
    number = transaction[1:]
    return (
        f"{transaction},{fraud},{labelled}T09:00:00+00:00,chargeback,{customer or 'C' + number},S{number},"
        "2026-01-05T12:00:00+01:00"
    )


def _run(files: dict[str, bytes]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, object]]:
    return match_transactions(read_outcomes(files, received_at_ms=NOW_MS, tolerance_ms=0), TRANSACTIONS)


def test_every_record_is_used_or_quarantined_with_its_code() -> None:
    csv = "\n".join([HEADER, _row("T1"), _row("T2", fraud="false"), _row("T9"), _row("T3", customer="C7"), _row("T1")])
    jsonl = json.dumps(
        {"transaction_id": "T2", "is_fraud": True, "labelled_at": "2026-02-01T00:00:00Z", "source": "confirmed",
         "customer_id": "C2", "store_id": "S2", "event_time": "2026-01-05T11:00:00+00:00", "pattern": "skimmer"}
    )  # fmt: skip
    files = {
        "a.csv": csv.encode() + b"\n",
        "b.jsonl.gz": gzip.compress(jsonl.encode() + b"\n{not json\n"),
        "c.csv": f"{HEADER}\n{_row('T3', labelled='2027-01-01')}\n{_row('T1', fraud='maybe')}\n".encode(),
        "notes.txt": b"hello",
        "_SUCCESS": b"",
    }
    used, quarantine, report = _run(files)
    assert used["transaction_id"].tolist() == ["T1", "T2", "T2"]
    assert used["pattern"].tolist()[2] == "skimmer"
    codes = sorted(zip(quarantine["source_file"], quarantine["error_code"], strict=True))
    assert codes == [
        ("a.csv", "duplicate_outcome"),
        ("a.csv", "transaction_mismatch"),
        ("a.csv", "unknown_transaction"),
        ("b.jsonl.gz", "invalid_json"),
        ("c.csv", "bad_value"),
        ("c.csv", "future_labelled_at"),
        ("notes.txt", "unsupported_file"),
    ]
    assert report["records_read"] == 9
    assert report["outcomes_used"] + report["quarantined"] == 9 + 1  # a file not read is one row
    assert report["unknown_transactions"] == 1


def test_a_label_file_that_names_no_landed_transaction_is_an_error_saying_so() -> None:
    with pytest.raises(OutcomesMatchNothingError, match=r"other\.csv: none of its 2 outcomes") as caught:
        _run(
            {
                "mine.csv": f"{HEADER}\n{_row('T1')}\n".encode(),
                "other.csv": f"{HEADER}\n{_row('X1')}\n{_row('X2')}\n".encode(),
            }
        )
    assert caught.value.code == "labels_match_no_transaction"


def test_no_label_files_is_no_outcomes() -> None:
    used, quarantine, report = _run({})
    assert used.empty
    assert quarantine.empty
    assert report["newest_labelled_at"] is None
