"""Label contract v1: CSV with a header or JSON lines, one known outcome per record, each rejection coded."""

import gzip
import json

import pytest

from streamflow.core.errors import UnsupportedFileError
from streamflow.core.outcomes import (
    REQUIRED_OUTCOME_FIELDS,
    BadHeaderError,
    Outcome,
    OutcomeError,
    iter_outcomes,
    label_records,
    parse_outcome,
)

HEADER = "transaction_id,is_fraud,labelled_at,source,customer_id,store_id,event_time"
ROW = "T1,true,2026-01-20T09:00:00+00:00,chargeback,C1,S1,2026-01-05T12:00:00+01:00"
RECORD = dict(zip(REQUIRED_OUTCOME_FIELDS, ROW.split(","), strict=True))


def test_the_documented_csv_header_reads() -> None:
    records = label_records("outcomes.csv", f"{HEADER}\n{ROW}\n".encode())
    [(record, outcome)] = list(iter_outcomes(records))
    assert record.line_number == 2
    assert outcome == Outcome("T1", True, 1_768_899_600_000, "chargeback", "C1", "S1", 1_767_610_800_000, None)


def test_json_lines_carry_booleans_and_an_optional_pattern() -> None:
    line = json.dumps({**RECORD, "is_fraud": False, "source": "cleared", "pattern": "none"})
    [(_, outcome)] = list(iter_outcomes(label_records("day.jsonl.gz", gzip.compress(line.encode() + b"\n"))))
    assert isinstance(outcome, Outcome)
    assert outcome.is_fraud is False
    assert outcome.pattern == "none"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"is_fraud": "yes"}, "bad_value"),
        ({"is_fraud": 1}, "bad_type"),
        ({"source": "phone call"}, "bad_value"),
        ({"labelled_at": "2026-01-20T09:00:00"}, "bad_timestamp"),
        ({"event_time": "last tuesday"}, "bad_timestamp"),
        ({"labelled_at": "2026-01-01T00:00:00+00:00"}, "labelled_before_event"),
        ({"store_id": ""}, "missing_field"),
        ({"customer_id": None}, "missing_field"),
        ({"transaction_id": " "}, "bad_value"),
    ],
)
def test_each_broken_record_gets_its_code(change: dict[str, object], code: str) -> None:
    with pytest.raises(OutcomeError) as caught:
        parse_outcome({**RECORD, **change})
    assert caught.value.code == code


def test_an_outcome_known_after_it_was_received_is_refused() -> None:
    with pytest.raises(OutcomeError) as caught:
        parse_outcome(RECORD, received_at_ms=1_768_899_600_000 - 1)
    assert caught.value.code == "future_labelled_at"


def test_unreadable_records_are_coded_not_dropped() -> None:
    data = b'{"transaction_id": "T1"\n\xff\xfe\n[1]\n'
    codes = [outcome.code for _, outcome in iter_outcomes(label_records("bad.jsonl", data))]  # type: ignore[union-attr]
    assert codes == ["invalid_json", "bad_encoding", "bad_type"]
    ragged = f"{HEADER}\n{ROW},extra\nT2,true\n".encode()
    assert [type(record.fields) for record in label_records("r.csv", ragged)] == [OutcomeError, OutcomeError]


def test_a_csv_without_the_header_and_other_files_are_refused_whole() -> None:
    with pytest.raises(BadHeaderError, match="lacks"):
        label_records("outcomes.csv", f"{ROW}\n".encode())
    with pytest.raises(UnsupportedFileError):
        label_records("outcomes.xlsx", b"")
