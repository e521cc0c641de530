import json

import pandas as pd
import pytest

from streamflow.core import ContractConfig
from streamflow.medallion import silver
from streamflow.medallion.bronze import ingest_files
from streamflow.medallion.schemas import SilverTransactions
from tests.factories import payload

NOW = pd.Timestamp("2026-02-01T12:00:00Z")  # the contract's default tolerance is 5 minutes


def _bronze(*lines: bytes | str) -> pd.DataFrame:
    raw = b"\n".join(line.encode() if isinstance(line, str) else line for line in lines) + b"\n"
    return ingest_files({"day.jsonl": raw}, NOW)


def _line(**overrides: object) -> str:
    return json.dumps(payload(**overrides))


def _run(bronze: pd.DataFrame) -> silver.SilverResult:
    return silver.run_silver(bronze, ContractConfig())


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b'{"schema_version": 1, "amount": ', "invalid_json"),
        (b"", "invalid_json"),
        (b'{"amount": NaN}', "invalid_json"),
        (b"\xff\xfe\x00garbage", "bad_encoding"),
        (_line(amount="12.50"), "bad_type"),
        (_line(transaction_id=7), "bad_type"),
        (_line(channel="fax"), "bad_value"),
        (_line(currency="euro"), "bad_value"),
        (_line(amount=-3), "out_of_range"),
        (_line(amount=5e9), "out_of_range"),
        (_line(latitude=123.0), "out_of_range"),
        (_line(timestamp="2026-13-45T00:00:00Z"), "bad_timestamp"),
        (_line(timestamp="2026-01-05T12:00:00"), "bad_timestamp"),
        (_line(customer_id=None), "missing_field"),
        ('{"schema_version": 1}', "missing_field"),
        (_line(notes="x" * 20_000), "payload_too_large"),
        (_line(timestamp="2026-02-01T12:10:00Z"), "future_timestamp"),
    ],
)
def test_each_bad_row_is_quarantined_with_its_code(line: bytes | str, code: str) -> None:
    result = _run(_bronze(_line(transaction_id="good"), line))
    assert result.silver["transaction_id"].tolist() == ["good"]
    assert result.quarantine["error_code"].tolist() == [code]
    assert result.quarantine["line_number"].tolist() == [2]
    assert result.quarantine["stage"].tolist() == ["parse"]  # the core parser's verdict, as the stream's


def test_event_within_the_future_tolerance_is_kept() -> None:
    result = _run(_bronze(_line(timestamp="2026-02-01T12:04:59Z")))
    assert len(result.silver) == 1
    assert result.quarantine.empty


def test_quarantine_keeps_a_10kb_preview_and_flags_truncation() -> None:
    huge = _line(notes="y" * 10_000_000)
    result = _run(_bronze(huge))
    row = result.quarantine.iloc[0]
    assert row["error_code"] == "payload_too_large"
    assert row["payload_size"] == len(huge)
    assert len(row["payload"]) == silver.PAYLOAD_PREVIEW_BYTES
    assert row["payload_truncated"]


def test_non_utf8_payload_preview_is_readable_text() -> None:
    result = _run(_bronze(b"caf\xe9 \xff"))
    assert result.quarantine["payload"].tolist() == ["caf\ufffd \ufffd"]


def test_duplicates_keep_the_first_arrival_and_point_to_it() -> None:
    first = _line(transaction_id="t-1", amount=10.0)
    resend = _line(transaction_id="t-1", amount=99.0)
    result = _run(_bronze(first, _line(transaction_id="t-2"), resend, resend))
    assert result.silver["transaction_id"].tolist() == ["t-1", "t-2"]
    assert result.silver["amount"].tolist()[0] == 10.0
    assert result.duplicates[["line_number", "first_line_number"]].values.tolist() == [[3, 1], [4, 1]]
    assert result.report["duplicate_rows"] == 2


def test_row_invariant_holds_and_is_reported() -> None:
    bronze = _bronze(_line(transaction_id="a"), "broken", _line(transaction_id="a"), _line(transaction_id="b"))
    result = _run(bronze)
    report = result.report
    assert report["bronze_rows"] == 4 == report["silver_rows"] + report["quarantined_rows"] + report["duplicate_rows"]
    assert report["quarantined_by_code"] == {"invalid_json": 1}
    assert report["event_dates"] == ["2026-01-05"]


def test_row_invariant_violation_raises() -> None:
    bronze = _bronze(_line(transaction_id="a"), _line(transaction_id="b"))
    result = _run(bronze)
    with pytest.raises(silver.SilverInvariantError, match="bronze rows 2"):
        silver.silver_report(bronze, result.silver.iloc[:1], result.quarantine, result.duplicates)


def test_silver_rows_satisfy_the_silver_schema() -> None:
    result = _run(_bronze(_line(transaction_id="a"), _line(transaction_id="b", timestamp="2026-01-05T23:30:00-03:00")))
    SilverTransactions.validate(result.silver)
    assert result.silver["event_time"].dt.tz is not None
    assert result.silver["utc_offset_minutes"].tolist() == [0, -180]


def test_empty_batch_gives_empty_outputs_and_a_consistent_report() -> None:
    result = _run(ingest_files({}, NOW))
    assert result.report["bronze_rows"] == 0
    assert result.silver.empty
    assert result.quarantine.empty


def test_parallel_parse_equals_serial_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [_line(transaction_id=f"t{i}", amount=1.0 + i) for i in range(300)] + ["bad"] * 7
    bronze = _bronze(*lines)
    serial = silver.parse_bronze(bronze, ContractConfig(), workers=1)
    monkeypatch.setattr(silver, "MIN_ROWS_PER_WORKER", 10)
    parallel = silver.parse_bronze(bronze, ContractConfig(), workers=2)
    pd.testing.assert_frame_equal(serial[0], parallel[0])
    pd.testing.assert_frame_equal(serial[1], parallel[1])
