"""Label contract v1: a team's known outcomes (chargebacks, confirmations), parsed into typed :class:`Outcome`s.

One record per known outcome of a transaction, landed as CSV with a header or as JSON lines
(``docs/label_contract.md``). The one parser for batch (the ``labels`` pipeline) and, later, the
stream. Each rejected record raises an :class:`OutcomeError` with a stable code, so nothing is
dropped silently.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from streamflow.core.contract import BYTE_ORDER_MARK, MAX_ID_LENGTH
from streamflow.core.errors import EventError, LandingFileError
from streamflow.core.landing import decompressed, is_ignored, split_lines

OUTCOME_SOURCES: tuple[str, ...] = ("chargeback", "confirmed", "cleared", "other")
REQUIRED_OUTCOME_FIELDS: tuple[str, ...] = (
    "transaction_id",
    "is_fraud",
    "labelled_at",
    "source",
    "customer_id",
    "store_id",
    "event_time",
)
OPTIONAL_OUTCOME_FIELDS: tuple[str, ...] = ("pattern",)
LABEL_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz")
_TRUE, _FALSE = frozenset({"true"}), frozenset({"false"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class OutcomeError(EventError):
    """A label record that breaks the label contract, with its code.

    The codes of the event contract where the fault is the same (``invalid_json``,
    ``bad_encoding``, ``missing_field``, ``bad_type``, ``bad_value``, ``bad_timestamp``), and
    the label contract's own: ``labelled_before_event`` (an outcome cannot precede its
    transaction) and ``future_labelled_at`` (known later than it was received).
    """

    code = "outcome_error"

    def __init__(self, message: str, *, code: str, field: str, expected: str, got: Any = None) -> None:
        super().__init__(message, field=field, expected=expected, got=got)
        self.code = code


class BadHeaderError(LandingFileError):
    """A CSV label file whose header lacks a required column: none of its rows can be read."""

    code = "bad_header"


class Outcome(NamedTuple):
    """A known outcome of one transaction (immutable); times are Unix epoch milliseconds (UTC)."""

    transaction_id: str
    is_fraud: bool
    labelled_at_ms: int
    source: str
    customer_id: str
    store_id: str
    event_time_ms: int
    pattern: str | None


def parse_outcome(record: Mapping[str, Any], *, received_at_ms: int | None = None, tolerance_ms: int = 0) -> Outcome:
    """One label record (a JSON object, or a CSV row of strings) as an :class:`Outcome`.

    Args:
        record: Field name to value. From CSV every value is a string (``is_fraud`` is
            ``true``/``false``, any case; an empty cell is absent); from JSON ``is_fraud`` is a
            boolean.
        received_at_ms: When the record was received; a ``labelled_at`` past it (plus
            ``tolerance_ms``) is ``future_labelled_at``. ``None``: no check.
        tolerance_ms: Clock skew allowed on ``labelled_at``.

    Raises:
        OutcomeError: The first violation, in the contract's field order, with its code.

    """
    values = [record.get(name) for name in REQUIRED_OUTCOME_FIELDS]
    for name, value in zip(REQUIRED_OUTCOME_FIELDS, values, strict=True):
        if value is None or value == "":
            raise _error("missing_field", f"required field '{name}' is absent or empty", name, "a value", value)
    transaction_id = _identifier("transaction_id", values[0])
    is_fraud = _flag(values[1])
    labelled_at_ms = _instant("labelled_at", values[2])
    source = _source(values[3])
    customer_id = _identifier("customer_id", values[4])
    store_id = _identifier("store_id", values[5])
    event_time_ms = _instant("event_time", values[6])
    if labelled_at_ms < event_time_ms:
        message = f"labelled_at {values[2]} is before the transaction's event_time {values[6]}"
        raise OutcomeError(
            message, code="labelled_before_event", field="labelled_at", expected="at or after event_time", got=values[2]
        )
    if received_at_ms is not None and labelled_at_ms > received_at_ms + tolerance_ms:
        message = f"labelled_at {values[2]} is later than when the outcome was received"
        raise OutcomeError(
            message, code="future_labelled_at", field="labelled_at", expected="a time already past", got=values[2]
        )
    pattern = record.get("pattern")
    return Outcome(
        transaction_id,
        is_fraud,
        labelled_at_ms,
        source,
        customer_id,
        store_id,
        event_time_ms,
        str(pattern) if pattern not in (None, "") else None,
    )


class LabelRecord(NamedTuple):
    """One record of a label file: its line number (CSV: the row's first line) and fields, or why it is unreadable."""

    line_number: int
    payload: bytes
    fields: dict[str, Any] | OutcomeError


def label_records(name: str, data: bytes) -> list[LabelRecord]:
    """Every record of one landed label file, in file order.

    Raises:
        UnsupportedFileError: Not ``*.csv``, ``*.csv.gz``, ``*.jsonl`` or ``*.jsonl.gz``.
        BadCompressionError: A ``.gz`` that is not a whole gzip stream.
        BadHeaderError: A CSV file without a required column in its header.

    """
    kind, data = decompressed(name, data, LABEL_SUFFIXES)
    if kind.startswith(".jsonl"):
        return [LabelRecord(number, line, _json_fields(line)) for number, line in enumerate(split_lines(data), 1)]
    return _csv_records(name, data)


def label_lines(name: str, data: bytes) -> list[bytes]:
    """Every record of one landed label file as one JSON line: what the stream reads (its labels input, a topic).

    JSON lines as they landed; a CSV row as the JSON object of its cells (the header's names), so
    the stream parses it as batch does. A CSV row the contract cannot read at all keeps its raw
    text, which the stream then dead-letters (``invalid_json``).

    Raises:
        UnsupportedFileError: Not ``*.csv``, ``*.csv.gz``, ``*.jsonl`` or ``*.jsonl.gz``.
        BadCompressionError: A ``.gz`` that is not a whole gzip stream.
        BadHeaderError: A CSV file without a required column in its header.

    """
    records = label_records(name, data)
    if name.endswith((".jsonl", ".jsonl.gz")):
        return [record.payload for record in records]
    return [
        record.payload
        if isinstance(record.fields, OutcomeError)
        else json.dumps(record.fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        for record in records
    ]


def outcome_of_line(line: bytes, *, received_at_ms: int | None = None, tolerance_ms: int = 0) -> Outcome:
    """One JSON line of the label contract as an :class:`Outcome` (the stream's outcome parser).

    Raises:
        OutcomeError: The line breaks the label contract, with the code batch gives the same record.

    """
    fields = _json_fields(line)
    if isinstance(fields, OutcomeError):
        raise fields
    return parse_outcome(fields, received_at_ms=received_at_ms, tolerance_ms=tolerance_ms)


def is_label_file(name: str) -> bool:
    """Whether a landed name is a label file the contract reads (hidden and marker files are not)."""
    return not is_ignored(name) and name.endswith(LABEL_SUFFIXES)


def _json_fields(line: bytes) -> dict[str, Any] | OutcomeError:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _error("bad_encoding", f"record is not valid UTF-8 ({exc.reason})", "$", "UTF-8 text", line[:32])
    try:
        document = json.loads(text.removeprefix(BYTE_ORDER_MARK))
    except ValueError as exc:
        return _error("invalid_json", f"record is not valid JSON: {exc}", "$", "one JSON object", text)
    if not isinstance(document, dict):
        return _error("bad_type", "expected a JSON object per outcome", "$", "object", document)
    return document


def _csv_records(name: str, data: bytes) -> list[LabelRecord]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        encoding = _error("bad_encoding", f"file is not valid UTF-8 ({exc.reason})", "$", "UTF-8 text", None)
        return [LabelRecord(number, line, encoding) for number, line in enumerate(split_lines(data), 1)]
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    header = reader.fieldnames or []
    missing = [column for column in REQUIRED_OUTCOME_FIELDS if column not in header]
    if missing:
        raise BadHeaderError(
            f"{name}: the header lacks {missing}; a label CSV starts with "
            f"{','.join(REQUIRED_OUTCOME_FIELDS)} (docs/label_contract.md)",
            file=name,
        )
    records = []
    lines = text.splitlines(keepends=True)
    while True:
        first_line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            error = _error("invalid_json", f"row is not valid CSV: {exc}", "$", "a CSV row", None)
            records.append(LabelRecord(first_line, _raw(lines, first_line, reader.line_num), error))
            continue
        payload = _raw(lines, first_line, reader.line_num)
        if None in row or any(value is None for value in row.values()):
            error = _error("bad_value", "row has another number of cells than the header", "$", "one per column", row)
            records.append(LabelRecord(first_line, payload, error))
            continue
        records.append(LabelRecord(first_line, payload, dict(row)))
    return records


def _raw(lines: list[str], first: int, last: int) -> bytes:
    return "".join(lines[first - 1 : last]).rstrip("\r\n").encode("utf-8")


def iter_outcomes(records: list[LabelRecord], **checks: Any) -> Iterator[tuple[LabelRecord, Outcome | OutcomeError]]:
    """Each record with its :class:`Outcome`, or the error that rejects it."""
    for record in records:
        if isinstance(record.fields, OutcomeError):
            yield record, record.fields
            continue
        try:
            yield record, parse_outcome(record.fields, **checks)
        except OutcomeError as error:
            yield record, error


def _error(code: str, message: str, field: str, expected: str, got: Any) -> OutcomeError:
    return OutcomeError(message, code=code, field=field, expected=expected, got=got)


def _identifier(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _error("bad_type", f"{name} must be a string, got {type(value).__name__}", name, "string", value)
    if not value.strip() or len(value) > MAX_ID_LENGTH:
        raise _error("bad_value", f"{name} must be 1..{MAX_ID_LENGTH} characters, not blank", name, "an id", value)
    return value


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, str):
        raise _error("bad_value", f"is_fraud must be true or false, got {value!r}", "is_fraud", "true | false", value)
    raise _error("bad_type", f"is_fraud must be a boolean, got {type(value).__name__}", "is_fraud", "boolean", value)


def _source(value: Any) -> str:
    if not isinstance(value, str):
        raise _error("bad_type", f"source must be a string, got {type(value).__name__}", "source", "string", value)
    if value not in OUTCOME_SOURCES:
        raise _error(
            "bad_value", f"source must be one of {list(OUTCOME_SOURCES)}, got {value!r}", "source", "a source", value
        )
    return value


def _instant(name: str, value: Any) -> int:
    if not isinstance(value, str):
        raise _error("bad_type", f"{name} must be an ISO 8601 string", name, "ISO 8601 with offset", value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _error("bad_timestamp", f"{name} is not ISO 8601: {value!r}", name, "ISO 8601", value) from exc
    if parsed.utcoffset() is None:
        raise _error("bad_timestamp", f"{name} has no UTC offset: {value!r}", name, "ISO 8601 with offset", value)
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
