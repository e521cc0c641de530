"""Dead-letter monitoring: counts per error code and source over a window, spike detection.

Dead letters come from two places: the stream's DLQ (records with ``received_at``) and the
batch quarantine (rows with ``ingested_at``). Their rate is dead letters over the records
received in the same window (stream: scored + dead-lettered; batch: bronze rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from streamflow.core.config import build_dataclass

DEAD_LETTER_COLUMNS: tuple[str, ...] = ("origin", "source", "error_code", "received_at")
TRAFFIC_COLUMNS: tuple[str, ...] = ("origin", "received_at", "records")
STREAM, BATCH = "stream", "batch"


class DlqError(RuntimeError):
    """Base of the dead-letter monitor's errors; ``code`` is stable."""

    code = "dlq_error"


class DeadLetterSpikeError(DlqError):
    """The dead-letter rate of the window is above a bound."""

    code = "dlq_rate_spike"


@dataclass(frozen=True, slots=True)
class DlqMonitorConfig:
    """Window and bounds of the monitor (``dlq_monitor`` parameters, ``replay`` aside).

    Attributes:
        window_hours: Length of the judged window, ending at ``as_of``.
        baseline_hours: Length of the period before the window that gives the observed baseline.
        max_rate: Highest acceptable dead letters / records in the window.
        baseline_rate: Expected rate, used when the baseline period saw too few records.
        spike_factor: The window fails when its rate exceeds this multiple of the baseline.
        min_dead_letters: Below this many dead letters in the window nothing fails (noise).
        min_baseline_records: Records the baseline period needs before its rate is trusted.

    """

    window_hours: float = 24.0
    baseline_hours: float = 168.0
    max_rate: float = 0.02
    baseline_rate: float = 0.005
    spike_factor: float = 3.0
    min_dead_letters: int = 20
    min_baseline_records: int = 1000


def parse_config(block: dict[str, Any]) -> DlqMonitorConfig:
    """The monitor's config from its parameters block (unknown keys rejected)."""
    return build_dataclass(DlqMonitorConfig, block, path="dlq_monitor.monitor")


def stream_dead_letters(records: pd.DataFrame) -> pd.DataFrame:
    """The stream's dead-letter records as ``DEAD_LETTER_COLUMNS`` (``origin`` = stream)."""
    return pd.DataFrame(
        {
            "origin": STREAM,
            "source": records["source"].astype(str).to_numpy() if len(records) else [],
            "error_code": records["error_code"].astype(str).to_numpy() if len(records) else [],
            "received_at": _utc(records["received_at"]) if len(records) else pd.Series([], dtype="datetime64[ns, UTC]"),
        },
        columns=list(DEAD_LETTER_COLUMNS),
    )


def batch_dead_letters(quarantine: pd.DataFrame) -> pd.DataFrame:
    """Quarantine rows as ``DEAD_LETTER_COLUMNS`` (``origin`` = batch, ``source`` = landed file)."""
    return pd.DataFrame(
        {
            "origin": BATCH,
            "source": quarantine["source_file"].astype(str).to_numpy(),
            "error_code": quarantine["error_code"].astype(str).to_numpy(),
            "received_at": _utc(quarantine["ingested_at"]).to_numpy(),
        },
        columns=list(DEAD_LETTER_COLUMNS),
    )


def stream_traffic(scored_at: pd.Series[Any], dead_letters: pd.DataFrame) -> pd.DataFrame:
    """One traffic row per record the stream received: every scored event and every dead letter."""
    stream_letters = dead_letters.loc[dead_letters["origin"] == STREAM, "received_at"]
    times = pd.concat([_utc(scored_at), _utc(stream_letters)], ignore_index=True)
    return pd.DataFrame({"origin": STREAM, "received_at": times, "records": 1}, columns=list(TRAFFIC_COLUMNS))


def batch_traffic(silver_report: dict[str, Any]) -> pd.DataFrame:
    """The latest batch as one traffic row: its bronze rows at its ingestion time."""
    if not silver_report.get("ingested_at"):
        return pd.DataFrame(columns=list(TRAFFIC_COLUMNS))
    return pd.DataFrame(
        {
            "origin": [BATCH],
            "received_at": _utc(pd.Series([silver_report["ingested_at"]])),
            "records": [int(silver_report["bronze_rows"])],
        }
    )


def in_window(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Rows received in ``[start, end)``."""
    received = frame["received_at"]
    return frame.loc[(received >= start) & (received < end)]


def rate(dead_letters: int, records: int) -> float | None:
    """Dead letters per record received; ``None`` when nothing was received."""
    return dead_letters / records if records else None


def window_counts(dead_letters: pd.DataFrame, traffic: pd.DataFrame) -> dict[str, Any]:
    """Totals, per origin, per error code and per (origin, source, error code) of one window."""
    per_origin = {
        origin: _totals_with_rate(
            int((dead_letters["origin"] == origin).sum()),
            int(traffic.loc[traffic["origin"] == origin, "records"].sum()),
        )
        for origin in (STREAM, BATCH)
    }
    by_source = (
        dead_letters.groupby(["origin", "source", "error_code"]).size().rename("dead_letters").reset_index()
        if len(dead_letters)
        else pd.DataFrame(columns=["origin", "source", "error_code", "dead_letters"])
    )
    total, records = len(dead_letters), int(traffic["records"].sum())
    return {
        "dead_letters": total,
        "records": records,
        "rate": rate(total, records),
        "by_origin": per_origin,
        "by_error_code": {str(k): int(v) for k, v in dead_letters["error_code"].value_counts().sort_index().items()},
        "by_source": [
            {**row, "dead_letters": int(row["dead_letters"])}
            for row in by_source.sort_values(["origin", "source", "error_code"]).to_dict("records")
        ],
    }


def baseline(counts: dict[str, Any], config: DlqMonitorConfig) -> dict[str, Any]:
    """The observed baseline rate when its period saw enough records, else the configured one."""
    if counts["records"] >= config.min_baseline_records and counts["rate"] is not None:
        return {"rate": counts["rate"], "from": "observed", **_totals(counts)}
    return {"rate": config.baseline_rate, "from": "configured", **_totals(counts)}


def breaches(window_rate: float | None, dead_letters: int, baseline_rate: float, config: DlqMonitorConfig) -> list[str]:
    """Each bound the window's rate exceeds, as a sentence naming figure and bound."""
    if window_rate is None or dead_letters < config.min_dead_letters:
        return []
    found = []
    if window_rate > config.max_rate:
        found.append(f"dead-letter rate {window_rate:.4f} > max_rate {config.max_rate:.4f}")
    spike_bound = config.spike_factor * baseline_rate
    if window_rate > spike_bound:
        found.append(
            f"dead-letter rate {window_rate:.4f} > spike_factor {config.spike_factor:g} × baseline "
            f"{baseline_rate:.4f} = {spike_bound:.4f}"
        )
    return found


def monitor_report(
    dead_letters: pd.DataFrame, traffic: pd.DataFrame, config: DlqMonitorConfig, *, as_of: pd.Timestamp
) -> dict[str, Any]:
    """Counts of the window and its baseline period, the bounds and the verdict.

    Args:
        dead_letters: ``DEAD_LETTER_COLUMNS`` rows of every origin.
        traffic: ``TRAFFIC_COLUMNS`` rows: records received per origin and time.
        config: Window and bounds.
        as_of: End of the window (UTC).

    Returns:
        The JSON report; ``verdict`` is ``spike`` when ``breaches`` is not empty.

    """
    start = as_of - pd.Timedelta(hours=config.window_hours)
    baseline_start = start - pd.Timedelta(hours=config.baseline_hours)
    window = window_counts(in_window(dead_letters, start, as_of), in_window(traffic, start, as_of))
    reference = baseline(
        window_counts(in_window(dead_letters, baseline_start, start), in_window(traffic, baseline_start, start)),
        config,
    )
    found = breaches(window["rate"], window["dead_letters"], reference["rate"], config)
    return {
        "checked_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "window": {"start": start.isoformat(), "end": as_of.isoformat(), "hours": config.window_hours},
        **window,
        "baseline": {"start": baseline_start.isoformat(), "end": start.isoformat(), **reference},
        "bounds": {
            "max_rate": config.max_rate,
            "spike_rate": config.spike_factor * reference["rate"],
            "min_dead_letters": config.min_dead_letters,
        },
        "verdict": "spike" if found else "ok",
        "breaches": found,
    }


def enforce(report: dict[str, Any]) -> None:
    """Fail when the report found a spike.

    Raises:
        DeadLetterSpikeError: Naming each breached bound, the window and the top error codes.

    """
    if not report["breaches"]:
        return
    top = sorted(report["by_error_code"].items(), key=lambda item: -item[1])[:3]
    raise DeadLetterSpikeError(
        f"[{DeadLetterSpikeError.code}] {'; '.join(report['breaches'])} "
        f"({report['dead_letters']:,} dead letters of {report['records']:,} records, "
        f"{report['window']['start']} to {report['window']['end']}; top codes: "
        f"{', '.join(f'{code} {count:,}' for code, count in top)}). "
        "Hint: read data/08_reporting/dlq_report.json, fix the producer, then drop corrected lines "
        "into the dlq_monitor replay folder (data/01_raw/dlq_fixed) and rerun."
    )


def _totals_with_rate(dead_letters: int, records: int) -> dict[str, Any]:
    return {"dead_letters": dead_letters, "records": records, "rate": rate(dead_letters, records)}


def _totals(counts: dict[str, Any]) -> dict[str, Any]:
    return {key: counts[key] for key in ("dead_letters", "records")}


def _utc(values: pd.Series[Any]) -> pd.Series[Any]:
    return pd.to_datetime(values, utc=True, format="ISO8601")
