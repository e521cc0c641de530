"""Nodes of the ``dlq_monitor`` pipeline."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from streamflow.core import ContractConfig
from streamflow.operations import dlq, replay
from streamflow.operations.clock import as_of_time

logger = logging.getLogger(__name__)


def monitor_dead_letters(
    stream_dead_letters: Mapping[str, Callable[[], pd.DataFrame]],
    stream_scored: Mapping[str, Callable[[], pd.DataFrame]],
    quarantine: pd.DataFrame,
    silver_report: dict[str, Any],
    monitor: dict[str, Any],
    as_of: str | None,
) -> dict[str, Any]:
    """Count dead letters by origin, source and error code over the window; judge the rate.

    Args:
        stream_dead_letters: The stream's DLQ partitions (none yet counts as zero).
        stream_scored: The stream's scored partitions (the stream's traffic).
        quarantine: The batch quarantine of the latest medallion run.
        silver_report: Row counts of that run (its bronze rows are the batch's traffic).
        monitor: The ``dlq_monitor.monitor`` parameters (window and bounds).
        as_of: End of the window (ISO 8601); ``None`` for now.

    Returns:
        The report for ``dlq_report``.

    """
    letters = pd.concat(
        [dlq.stream_dead_letters(_concat(stream_dead_letters)), dlq.batch_dead_letters(quarantine)], ignore_index=True
    )
    scored = _concat(stream_scored)
    scored_at = scored["scored_at"] if len(scored) else pd.Series([], dtype=object)
    traffic = pd.concat([dlq.stream_traffic(scored_at, letters), dlq.batch_traffic(silver_report)], ignore_index=True)
    report = dlq.monitor_report(letters, traffic, dlq.parse_config(monitor), as_of=as_of_time(as_of))
    logger.info(
        "Dead letters in the window: %s of %s records (rate %s, verdict %s)",
        report["dead_letters"],
        report["records"],
        report["rate"],
        report["verdict"],
    )
    return report


def enforce_dead_letter_bounds(dlq_report: dict[str, Any]) -> None:
    """Fail the run when the window's rate spiked (after the report was saved).

    Raises:
        DeadLetterSpikeError: Naming the rate, the bound and the top error codes.

    """
    dlq.enforce(dlq_report)


def replay_fixed_dead_letters(
    dlq_fixed_lines: Mapping[str, Callable[[], str]], event_contract: dict[str, Any]
) -> tuple[dict[str, str], dict[str, Any]]:
    """Land fixed dead letters in the raw landing zone under content-addressed names.

    Args:
        dlq_fixed_lines: Corrected JSON-lines files dropped into the replay folder.
        event_contract: The ``event_contract`` parameters; lines that still fail are reported.

    Returns:
        The landing files to write and the replay report.

    """
    plan = replay.plan_replay(
        {name: load() for name, load in dlq_fixed_lines.items()}, ContractConfig.from_dict(event_contract)
    )
    if plan.rejected:
        logger.warning("%d fixed dead letters still fail the contract; see dlq_replay_report", len(plan.rejected))
    return plan.landing_files, replay.replay_report(plan)


def _concat(partitions: Mapping[str, Callable[[], pd.DataFrame]]) -> pd.DataFrame:
    frames = [load() for _, load in sorted(partitions.items())]
    frames = [frame for frame in frames if len(frame)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
