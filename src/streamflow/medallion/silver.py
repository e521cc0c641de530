"""Silver: parse with the core's event parser, deduplicate, validate; quarantine the rest.

Invariant (asserted): bronze rows = silver rows + quarantined rows + duplicates.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from streamflow.core import ContractConfig, Event, EventError, parse_event
from streamflow.medallion.schemas import ARROW_STRING, Quarantine, SilverTransactions

DUPLICATE_CODE = "duplicate_transaction_id"
PAYLOAD_PREVIEW_BYTES = 10_240
MIN_ROWS_PER_WORKER = 50_000
PR_SET_PDEATHSIG = 1  # linux/prctl.h
EVENT_COLUMNS: tuple[str, ...] = (
    "transaction_id",
    "customer_id",
    "card_id",
    "store_id",
    "product_id",
    "amount",
    "currency",
    "channel",
    "timestamp",
    "event_time_ms",
    "utc_offset_minutes",
    "latitude",
    "longitude",
    "schema_version",
)
STRING_COLUMNS: tuple[str, ...] = (
    "transaction_id",
    "customer_id",
    "card_id",
    "store_id",
    "product_id",
    "currency",
    "channel",
    "timestamp",
)
NUMERIC_DTYPES: dict[str, str] = {
    "amount": "float64",
    "event_time_ms": "int64",
    "utc_offset_minutes": "int64",
    "latitude": "float64",
    "longitude": "float64",
    "schema_version": "int64",
}
LINEAGE_COLUMNS: tuple[str, ...] = ("source_file", "line_number", "ingested_at")
# Pandera check name (without arguments) -> quarantine error code
CHECK_CODES: dict[str, str] = {
    "not_nullable": "missing_field",
    "greater_than": "out_of_range",
    "greater_than_or_equal_to": "out_of_range",
    "less_than": "out_of_range",
    "less_than_or_equal_to": "out_of_range",
    "in_range": "out_of_range",
    "isin": "bad_value",
    "str_matches": "bad_value",
    "str_length": "bad_value",
    "field_uniqueness": DUPLICATE_CODE,
}


class SilverInvariantError(RuntimeError):
    """Rows were lost or double-counted between bronze and silver."""


@dataclass(frozen=True)
class SilverResult:
    """Everything silver produces from one bronze batch."""

    silver: pd.DataFrame
    quarantine: pd.DataFrame
    duplicates: pd.DataFrame
    report: dict[str, Any]


def parse_bronze(
    bronze: pd.DataFrame, contract: ContractConfig, *, workers: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse every bronze payload with the core parser, received when bronze ingested it.

    Args:
        bronze: The bronze batch.
        contract: Contract limits (an event time past ingestion plus the contract's tolerance
            is ``future_timestamp``, as the stream judges it against its arrival).
        workers: Processes to parse with (batches under ``MIN_ROWS_PER_WORKER`` rows
            per worker are parsed in this process).

    Returns:
        Typed events (``EVENT_COLUMNS`` + ``event_time`` + lineage) and quarantine rows
        for payloads the parser rejected.

    """
    payloads = bronze["payload"].tolist()
    received_at_ms = int(bronze["ingested_at"].max().value // 1_000_000) if len(bronze) else None
    typed, good, bad, errors = parse_payloads(payloads, contract, workers=workers, received_at_ms=received_at_ms)
    lineage = bronze.iloc[good][list(LINEAGE_COLUMNS)].reset_index(drop=True)
    lineage["source_file"] = lineage["source_file"].astype(ARROW_STRING)
    parsed = pd.concat([typed, lineage], axis=1)
    quarantine = quarantine_rows(
        bronze.iloc[bad],
        stage="parse",
        codes=[code for code, _, _ in errors],
        fields=[field for _, field, _ in errors],
        messages=[message for _, _, message in errors],
    )
    return parsed, quarantine


ParsedChunk = tuple[pd.DataFrame, list[int], list[int], list[tuple[str, str, str]]]
_FORKED_PAYLOADS: list[bytes] = []  # read by forked workers; never pickled


def parse_payloads(
    payloads: list[bytes], contract: ContractConfig, *, workers: int = 1, received_at_ms: int | None = None
) -> ParsedChunk:
    """Parse payloads, in forked worker processes when the batch is large enough.

    ``received_at_ms``: when the payloads were received (``parse_event``'s future check); ``None``: none.

    Returns:
        Typed events, positions of the parsed and of the rejected payloads, and
        ``(code, field, message)`` per rejected payload, all in payload order.

    """
    workers = max(1, min(workers, len(payloads) // MIN_ROWS_PER_WORKER))
    if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
        return _parse_range(payloads, 0, len(payloads), contract, received_at_ms)
    global _FORKED_PAYLOADS
    _FORKED_PAYLOADS = payloads
    bounds = np.linspace(0, len(payloads), workers + 1).astype(int)
    try:
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            chunks = list(
                pool.map(
                    _parse_forked_range,
                    bounds[:-1].tolist(),
                    bounds[1:].tolist(),
                    [contract] * workers,
                    [received_at_ms] * workers,
                )
            )
    finally:
        _FORKED_PAYLOADS = []
    frames, good, bad, errors = zip(*chunks, strict=True)
    return (
        pd.concat(frames, ignore_index=True),
        [position for chunk in good for position in chunk],
        [position for chunk in bad for position in chunk],
        [error for chunk in errors for error in chunk],
    )


def die_with_parent(parent_pid: int) -> None:
    """Make this worker process die when ``parent_pid`` does, even by ``kill -9`` (Linux's parent-death signal).

    A pool's workers otherwise outlive a killed parent, waiting on its queue for ever. The signal
    is asked for before the check, so a parent that died in between is still noticed.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)


def _parse_forked_range(start: int, stop: int, contract: ContractConfig, received_at_ms: int | None) -> ParsedChunk:
    return _parse_range(_FORKED_PAYLOADS, start, stop, contract, received_at_ms)


def _parse_range(
    payloads: list[bytes], start: int, stop: int, contract: ContractConfig, received_at_ms: int | None
) -> ParsedChunk:
    events: list[Event] = []
    good: list[int] = []
    bad: list[int] = []
    errors: list[tuple[str, str, str]] = []
    for position in range(start, stop):
        try:
            events.append(parse_event(payloads[position], contract, received_at_ms=received_at_ms))
            good.append(position)
        except EventError as error:
            bad.append(position)
            errors.append((error.code, error.field, error.message))
    return events_frame(events), good, bad, errors


def events_frame(events: list[Event]) -> pd.DataFrame:
    """Typed columns (``EVENT_COLUMNS`` plus ``event_time``) from parsed events."""
    fields = dict(zip(Event._fields, zip(*events, strict=True), strict=True)) if events else {}
    columns: dict[str, Any] = {}
    for name in EVENT_COLUMNS:
        values = fields.get(name, ())
        if name in STRING_COLUMNS:
            columns[name] = pd.array(values, dtype=ARROW_STRING)
        else:
            columns[name] = np.array(values, dtype=NUMERIC_DTYPES[name])
    frame = pd.DataFrame(columns)
    event_time = pd.to_datetime(frame["event_time_ms"], unit="ms", utc=True)
    frame.insert(EVENT_COLUMNS.index("event_time_ms"), "event_time", event_time)
    return frame


def deduplicate(parsed: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the first row per ``transaction_id`` (bronze order); return the rest separately."""
    repeated = parsed["transaction_id"].duplicated(keep="first")
    first = parsed.loc[~repeated, ["transaction_id", "source_file", "line_number"]].set_index("transaction_id")
    duplicates = parsed.loc[repeated, ["transaction_id", "source_file", "line_number"]].reset_index(drop=True)
    duplicates = duplicates.assign(
        first_source_file=duplicates["transaction_id"].map(first["source_file"]),
        first_line_number=duplicates["transaction_id"].map(first["line_number"]).astype("int64"),
    )
    return parsed.loc[~repeated].reset_index(drop=True), duplicates


def silver_schema(contract: ContractConfig) -> pa.DataFrameSchema:
    """The silver contract for one run: the static model plus the configured contract limits."""
    schema = SilverTransactions.to_schema()
    schema = schema.update_column("currency", checks=[pa.Check.isin(sorted(contract.allowed_currencies))])
    return schema.update_column("amount", checks=[pa.Check.in_range(0.0, contract.max_amount, include_min=False)])


def validate_silver(
    candidates: pd.DataFrame, bronze: pd.DataFrame, schema: pa.DataFrameSchema
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lazy Pandera validation: failing rows go to quarantine with a code, the rest go on.

    Args:
        candidates: Parsed, deduplicated rows.
        bronze: The bronze batch (for the payloads of quarantined rows).
        schema: From :func:`silver_schema`.

    Raises:
        SchemaErrors: When a whole column is wrong (a type or a missing column): that is
            a bug upstream, not bad data, and no row-level quarantine can fix it.

    """
    try:
        return schema.validate(candidates, lazy=True), quarantine_rows(bronze.iloc[:0], stage="validate")
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
        if failures["index"].isna().any():
            raise
        failures = failures.assign(code=failures["check"].map(_check_code))
        first = failures.sort_values("index", kind="stable").drop_duplicates("index")
    failed = candidates.loc[first["index"].to_numpy()]
    payloads = (
        bronze.set_index(["source_file", "line_number"])
        .loc[list(zip(failed["source_file"], failed["line_number"], strict=True))]
        .reset_index()
    )
    quarantine = quarantine_rows(
        payloads,
        stage="validate",
        codes=first["code"].tolist(),
        fields=first["column"].astype(str).tolist(),
        messages=[
            f"{column} failed {check}: got {case!r}"
            for column, check, case in zip(first["column"], first["check"], first["failure_case"], strict=True)
        ],
    )
    return candidates.drop(index=failed.index).reset_index(drop=True), quarantine


def quarantine_rows(
    bronze_rows: pd.DataFrame,
    *,
    stage: str,
    codes: list[str] | None = None,
    fields: list[str] | None = None,
    messages: list[str] | None = None,
) -> pd.DataFrame:
    """Quarantine records for bronze rows: lineage, hash, a 10 KB payload preview and the error."""
    payloads = bronze_rows["payload"].tolist()
    frame = pd.DataFrame(
        {
            "source_file": bronze_rows["source_file"].to_numpy(dtype=object),
            "line_number": bronze_rows["line_number"].to_numpy(dtype="int64"),
            "ingested_at": bronze_rows["ingested_at"].to_numpy(),
            "payload_hash": bronze_rows["payload_hash"].to_numpy(dtype=object),
            "payload_size": bronze_rows["payload_size"].to_numpy(dtype="int64"),
            "payload": pd.Series([_preview(p) for p in payloads], dtype=object),
            "payload_truncated": pd.Series([len(p) > PAYLOAD_PREVIEW_BYTES for p in payloads], dtype=bool),
            "stage": stage,
            "error_code": pd.Series(codes or [], dtype=object),
            "error_field": pd.Series(fields or [], dtype=object),
            "error_message": pd.Series(messages or [], dtype=object),
        }
    )
    frame["ingested_at"] = pd.to_datetime(frame["ingested_at"], utc=True)
    return Quarantine.validate(frame)


def run_silver(bronze: pd.DataFrame, contract: ContractConfig, *, parse_workers: int = 1) -> SilverResult:
    """Bronze to silver, quarantine and duplicates, with the row invariant checked."""
    parsed, parse_quarantine = parse_bronze(bronze, contract, workers=parse_workers)
    unique, duplicates = deduplicate(parsed)
    schema = silver_schema(contract)
    silver, validate_quarantine = validate_silver(unique, bronze, schema)
    quarantine = pd.concat([parse_quarantine, validate_quarantine], ignore_index=True)
    report = silver_report(bronze, silver, quarantine, duplicates)
    return SilverResult(silver, quarantine, duplicates, report)


def silver_report(
    bronze: pd.DataFrame, silver: pd.DataFrame, quarantine: pd.DataFrame, duplicates: pd.DataFrame
) -> dict[str, Any]:
    """Row counts per outcome; raises when bronze rows are not all accounted for."""
    accounted = len(silver) + len(quarantine) + len(duplicates)
    if accounted != len(bronze):
        raise SilverInvariantError(
            f"bronze rows {len(bronze):,} != silver {len(silver):,} + quarantined {len(quarantine):,} "
            f"+ duplicates {len(duplicates):,} = {accounted:,}"
        )
    by_code = quarantine["error_code"].value_counts().sort_index()
    return {
        "bronze_rows": len(bronze),
        "silver_rows": len(silver),
        "quarantined_rows": len(quarantine),
        "duplicate_rows": len(duplicates),
        "quarantined_by_code": {str(code): int(count) for code, count in by_code.items()},
        "ingested_at": _iso(bronze["ingested_at"].max()) if len(bronze) else None,
        "latest_event_time": _iso(silver["event_time"].max()) if len(silver) else None,
        "event_dates": event_dates(silver),
        "invariant": "bronze_rows = silver_rows + quarantined_rows + duplicate_rows",
    }


def event_dates(silver: pd.DataFrame) -> list[str]:
    """The distinct UTC event dates of silver rows, as ``YYYY-MM-DD``, sorted."""
    days = np.unique(silver["event_time_ms"].to_numpy() // 86_400_000).astype("datetime64[D]")
    return [str(day) for day in days]


def _check_code(check: object) -> str:
    name = str(check).split("(", 1)[0]
    return CHECK_CODES.get(name, "schema_violation")


def _preview(payload: bytes) -> str:
    return payload[:PAYLOAD_PREVIEW_BYTES].decode("utf-8", errors="replace")


def _iso(timestamp: pd.Timestamp) -> str:
    return timestamp.isoformat()
