"""Outcomes: a team's landed label files to ``silver_outcomes``, every record used or quarantined with a code.

The label contract (``streamflow.core.outcomes``) parses each record. Then each outcome must
name a landed transaction, with the same customer, store and event time: an outcome for a
transaction that never landed is ``unknown_transaction`` (counted, reported, not fatal), one that
disagrees with it is ``transaction_mismatch``, an exact repeat is ``duplicate_outcome``.

Invariant (asserted): records read + files not read = outcomes used + quarantined (repeats included;
a file not read is one quarantine row, line 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from streamflow.core.errors import CoreError, LandingFileError
from streamflow.core.landing import is_ignored
from streamflow.core.outcomes import Outcome, OutcomeError, iter_outcomes, label_records
from streamflow.medallion.schemas import ARROW_STRING, OutcomeQuarantine, SilverOutcomes

PAYLOAD_PREVIEW_CHARS = 2_048
UNKNOWN_CODE = "unknown_transaction"
MISMATCH_CODE = "transaction_mismatch"
DUPLICATE_CODE = "duplicate_outcome"
IDENTITY = ("transaction_id", "is_fraud", "labelled_at_ms", "source")  # the same outcome, landed twice
LINEAGE = ("source_file", "line_number")


class OutcomesMatchNothingError(CoreError):
    """A label file whose outcomes name none of the landed transactions: the wrong file, or the wrong events."""

    code = "labels_match_no_transaction"


class OutcomesInvariantError(RuntimeError):
    """Outcome records were lost or double-counted."""


@dataclass(frozen=True)
class OutcomesResult:
    """What the labels stage makes of the label landing zone."""

    outcomes: pd.DataFrame
    quarantine: pd.DataFrame
    report: dict[str, Any]


def read_outcomes(files: Mapping[str, bytes], *, received_at_ms: int, tolerance_ms: int) -> OutcomesResult:
    """Parse every record of every label file; rejected records and files not read are quarantined with a code.

    Args:
        files: Raw bytes per file name (relative to the label landing zone).
        received_at_ms: When the files were read: an outcome known later than this (plus
            ``tolerance_ms``) is ``future_labelled_at``.
        tolerance_ms: Clock skew allowed.

    """
    outcomes: list[tuple[Outcome, str, int]] = []
    quarantined: list[dict[str, Any]] = []
    not_read: list[dict[str, str]] = []
    records_read = 0
    for name in sorted(files):
        if is_ignored(name):
            continue
        try:
            records = label_records(name, files[name])
        except LandingFileError as error:
            not_read.append({"file": name, "error_code": error.code, "error_message": str(error)})
            quarantined.append(
                {"source_file": name, "line_number": 0, "payload": "", "error_field": "$", **_file_error(error)}
            )
            continue
        records_read += len(records)
        for record, outcome in iter_outcomes(records, received_at_ms=received_at_ms, tolerance_ms=tolerance_ms):
            if isinstance(outcome, OutcomeError):
                quarantined.append(_quarantine_row(name, record.line_number, record.payload, outcome))
            else:
                outcomes.append((outcome, name, record.line_number))
    frame = outcomes_frame(outcomes)
    report = {"files_not_read": not_read, "records_read": records_read}
    return OutcomesResult(frame, _quarantine_frame(quarantined), report)


def match_transactions(
    parsed: OutcomesResult, transactions: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Keep the outcomes of landed transactions; quarantine the unknown, the mismatched and the repeats.

    Args:
        parsed: :func:`read_outcomes`'s result.
        transactions: Silver transactions (``transaction_id``, ``customer_id``, ``store_id``, ``event_time_ms``).

    Returns:
        ``silver_outcomes``, every quarantined record, and the report.

    Raises:
        OutcomesMatchNothingError: A file with outcomes of which none names a landed transaction.
        OutcomesInvariantError: Records unaccounted for.

    """
    outcomes = parsed.outcomes
    known = transactions.set_index("transaction_id")[["customer_id", "store_id", "event_time_ms"]]
    landed = outcomes["transaction_id"].isin(known.index).to_numpy()
    for file in sorted(set(outcomes["source_file"])):
        in_file = (outcomes["source_file"] == file).to_numpy()
        if not landed[in_file].any():
            raise OutcomesMatchNothingError(
                f"{file}: none of its {int(in_file.sum()):,} outcomes names a landed transaction; is it the "
                "outcome file of these events (data/01_raw/transactions)?"
            )
    reference = known.reindex(outcomes["transaction_id"])
    agrees = (
        (reference["customer_id"].to_numpy() == outcomes["customer_id"].to_numpy())
        & (reference["store_id"].to_numpy() == outcomes["store_id"].to_numpy())
        & (reference["event_time_ms"].to_numpy() == outcomes["event_time_ms"].to_numpy())
    )
    repeated = outcomes.duplicated(list(IDENTITY), keep="first").to_numpy()
    unknown = ~landed
    mismatched = landed & ~agrees & ~repeated
    kept = landed & agrees & ~repeated
    extra = [
        _rows(outcomes[unknown], UNKNOWN_CODE, "transaction_id", "no landed transaction has this transaction_id"),
        _rows(
            outcomes[mismatched],
            MISMATCH_CODE,
            "transaction_id",
            "customer_id, store_id or event_time differ from the landed transaction's",
        ),
        _rows(outcomes[repeated & landed], DUPLICATE_CODE, "transaction_id", "the same outcome landed before"),
    ]
    quarantine = pd.concat([parsed.quarantine, *extra], ignore_index=True)
    used = SilverOutcomes.validate(outcomes[kept].reset_index(drop=True))
    report = outcomes_report(parsed, used, quarantine)
    return used, OutcomeQuarantine.validate(quarantine), report


def outcomes_report(parsed: OutcomesResult, used: pd.DataFrame, quarantine: pd.DataFrame) -> dict[str, Any]:
    """Counts per outcome: records read, used (by source and verdict), quarantined by code, files not read."""
    accounted = len(used) + len(quarantine)
    expected = parsed.report["records_read"] + len(parsed.report["files_not_read"])
    if accounted != expected:
        raise OutcomesInvariantError(
            f"records read {parsed.report['records_read']:,} + files not read "
            f"{len(parsed.report['files_not_read']):,} != used {len(used):,} + quarantined {len(quarantine):,}"
        )
    by_code = quarantine["error_code"].value_counts().sort_index()
    return {
        **parsed.report,
        "outcomes_used": len(used),
        "fraud_outcomes": int(used["is_fraud"].sum()),
        "used_by_source": {str(k): int(v) for k, v in used["source"].value_counts().sort_index().items()},
        "quarantined": len(quarantine),
        "quarantined_by_code": {str(code): int(count) for code, count in by_code.items()},
        "unknown_transactions": int(by_code.get(UNKNOWN_CODE, 0)),
        "newest_labelled_at": _iso(int(used["labelled_at_ms"].max())) if len(used) else None,
        "invariant": "records_read + files_not_read = outcomes_used + quarantined (a file not read: one row, line 0)",
    }


def outcomes_frame(rows: list[tuple[Outcome, str, int]]) -> pd.DataFrame:
    """Parsed outcomes as typed columns, with their file and line."""
    outcomes = [row[0] for row in rows]
    columns = dict(zip(Outcome._fields, zip(*outcomes, strict=True), strict=True)) if outcomes else {}
    frame = pd.DataFrame(
        {
            "transaction_id": pd.array(columns.get("transaction_id", ()), dtype=ARROW_STRING),
            "is_fraud": pd.array(columns.get("is_fraud", ()), dtype="bool"),
            "labelled_at_ms": pd.array(columns.get("labelled_at_ms", ()), dtype="int64"),
            "source": pd.array(columns.get("source", ()), dtype=ARROW_STRING),
            "customer_id": pd.array(columns.get("customer_id", ()), dtype=ARROW_STRING),
            "store_id": pd.array(columns.get("store_id", ()), dtype=ARROW_STRING),
            "event_time_ms": pd.array(columns.get("event_time_ms", ()), dtype="int64"),
            "pattern": pd.array(columns.get("pattern", ()), dtype=ARROW_STRING),
            "source_file": pd.array([row[1] for row in rows], dtype=ARROW_STRING),
            "line_number": pd.array([row[2] for row in rows], dtype="int64"),
        }
    )
    return frame.astype({"is_fraud": bool, "labelled_at_ms": "int64", "event_time_ms": "int64", "line_number": "int64"})


def _file_error(error: LandingFileError) -> dict[str, str]:
    return {"error_code": error.code, "error_message": str(error)}


def _quarantine_row(file: str, line: int, payload: bytes, error: OutcomeError) -> dict[str, Any]:
    return {
        "source_file": file,
        "line_number": line,
        "payload": payload[:PAYLOAD_PREVIEW_CHARS].decode("utf-8", "replace"),
        **error.to_dict(),
    }


def _rows(outcomes: pd.DataFrame, code: str, field: str, message: str) -> pd.DataFrame:
    payload = outcomes["transaction_id"].astype(str) + " " + outcomes["is_fraud"].map({True: "fraud", False: "legit"})
    return _quarantine_frame(
        [
            {
                "source_file": str(file),
                "line_number": int(line),
                "payload": str(text),
                "error_code": code,
                "error_field": field,
                "error_message": message,
            }
            for file, line, text in zip(outcomes["source_file"], outcomes["line_number"], payload, strict=True)
        ]
    )


def _quarantine_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = ["source_file", "line_number", "payload", "error_code", "error_field", "error_message"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({"line_number": "int64", **{name: object for name in columns if name != "line_number"}})


def _iso(epoch_ms: int) -> str:
    return pd.Timestamp(epoch_ms, unit="ms", tz="UTC").isoformat()
