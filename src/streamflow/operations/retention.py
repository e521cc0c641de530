"""Retention: which landed files, stream buckets and dataset versions are old enough to prune.

Ages come from the entry's name where it carries a time (a landing file ``YYYY-MM-DD.jsonl``
is its event date, a stream bucket ``yyyy-MM-dd--HH`` its processing hour, a Kedro version
folder its save time), else from the modification time. The newest ``keep_latest``
versions of every versioned dataset are always kept, whatever their age.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

import pandas as pd

from streamflow.core.config import build_dataclass

# Kedro's version names: kedro.io.core.VERSION_FORMAT, cut to milliseconds, "Z"
VERSION_FORMAT = "%Y-%m-%dT%H.%M.%S.%fZ"
LANDING_DATE_FORMAT = "%Y-%m-%d"
STREAM_BUCKET_FORMAT = "%Y-%m-%d--%H"
PLAN_COLUMNS: tuple[str, ...] = ("path", "entry_time", "age_days", "size_bytes")


class RetentionError(RuntimeError):
    """Base of the retention errors; ``code`` is stable."""

    code = "retention_error"


class NewestVersionError(RetentionError):
    """A plan would delete the newest version of a dataset."""

    code = "retention_newest_version"


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """Ages (days) past which entries are pruned (``maintenance.retention`` parameters).

    Attributes:
        raw_days: Landing files (and so bronze rows, rebuilt from them on the next run).
        stream_days: Hourly buckets of the stream's outputs (scored, alerts, dlq).
        version_days: Versions of versioned datasets (models, reports).
        keep_latest: Newest versions of each dataset never pruned (at least 1).

    """

    raw_days: float = 90.0
    stream_days: float = 14.0
    version_days: float = 30.0
    keep_latest: int = 3

    def __post_init__(self) -> None:
        """Refuse a config that could delete every version of a dataset."""
        if self.keep_latest < 1:
            raise RetentionError(
                f"[{RetentionError.code}] maintenance.retention.keep_latest must be at least 1 "
                f"(got {self.keep_latest}): the newest model bundle must never be pruned."
            )


def parse_config(block: dict[str, Any]) -> RetentionConfig:
    """The retention config from its parameters block (unknown keys rejected)."""
    return build_dataclass(RetentionConfig, block, path="maintenance.retention")


def name_time(name: str, fmt: str) -> pd.Timestamp | None:
    """The UTC time a name encodes with ``fmt``; ``None`` when it does not parse."""
    try:
        return pd.Timestamp(datetime.strptime(name, fmt)).tz_localize("UTC")
    except ValueError:
        return None


def with_entry_time(inventory: pd.DataFrame, fmt: str, *, fallback_to_mtime: bool) -> pd.DataFrame:
    """The inventory with ``entry_time`` from each entry's last name part (``.jsonl``/``.jsonl.gz`` dropped).

    Entries whose name does not parse get the modification time, or are dropped when
    ``fallback_to_mtime`` is false (e.g. folders under 08_reporting that are not versions).
    """
    stems = [PurePosixPath(path).name.removesuffix(".gz").removesuffix(".jsonl") for path in inventory["path"]]
    parsed = pd.Series([name_time(stem, fmt) for stem in stems], index=inventory.index, dtype=object)
    framed = inventory.assign(entry_time=parsed.where(parsed.notna(), None))
    if fallback_to_mtime:
        framed = framed.assign(
            entry_time=framed["entry_time"].where(framed["entry_time"].notna(), inventory["modified_at"])
        )
    else:
        framed = framed.loc[framed["entry_time"].notna()]
    return framed.assign(entry_time=pd.to_datetime(framed["entry_time"], utc=True))


def older_than(entries: pd.DataFrame, *, as_of: pd.Timestamp, max_age_days: float) -> pd.DataFrame:
    """Entries whose ``entry_time`` is more than ``max_age_days`` before ``as_of``, as ``PLAN_COLUMNS``."""
    age_days = (pd.Series(as_of, index=entries.index) - entries["entry_time"]).dt.total_seconds() / 86_400
    old = entries.assign(age_days=age_days.round(3)).loc[age_days > max_age_days]
    plan: pd.DataFrame = old[list(PLAN_COLUMNS)].sort_values("path").reset_index(drop=True)
    return plan


def plan_landing(inventory: pd.DataFrame, *, as_of: pd.Timestamp, max_age_days: float) -> pd.DataFrame:
    """Landing files older than the retention (dated by name, replay files by mtime)."""
    return older_than(
        with_entry_time(inventory, LANDING_DATE_FORMAT, fallback_to_mtime=True), as_of=as_of, max_age_days=max_age_days
    )


def plan_stream_buckets(inventory: pd.DataFrame, *, as_of: pd.Timestamp, max_age_days: float) -> pd.DataFrame:
    """Hourly stream buckets older than the retention (buckets with other names are left alone)."""
    return older_than(
        with_entry_time(inventory, STREAM_BUCKET_FORMAT, fallback_to_mtime=False),
        as_of=as_of,
        max_age_days=max_age_days,
    )


def newest_versions(versions: pd.DataFrame, keep_latest: int) -> set[str]:
    """Paths of the ``keep_latest`` newest versions of each dataset (``<dataset>/<version>``)."""
    datasets = versions["path"].map(lambda path: PurePosixPath(path).parent.as_posix())
    ranked = versions.assign(dataset=datasets).sort_values("entry_time", ascending=False)
    return set(ranked.groupby("dataset").head(keep_latest)["path"])


def plan_versions(inventory: pd.DataFrame, *, as_of: pd.Timestamp, config: RetentionConfig) -> pd.DataFrame:
    """Old versions of versioned datasets, never one of each dataset's newest ``keep_latest``."""
    versions = with_entry_time(inventory, VERSION_FORMAT, fallback_to_mtime=False)
    kept = newest_versions(versions, config.keep_latest)
    old = older_than(versions, as_of=as_of, max_age_days=config.version_days)
    plan = old.loc[~old["path"].isin(kept)].reset_index(drop=True)
    check_newest_kept(plan, versions)
    return plan


def check_newest_kept(plan: pd.DataFrame, versions: pd.DataFrame) -> None:
    """Guard: a plan never holds the newest version of a dataset.

    Raises:
        NewestVersionError: Naming the newest versions the plan holds.

    """
    doomed = sorted(set(plan["path"]) & newest_versions(versions, 1))
    if doomed:
        raise NewestVersionError(
            f"[{NewestVersionError.code}] refusing to prune the newest version of a dataset: {doomed}. "
            "This is a bug in the retention plan; nothing was deleted."
        )


def plan_summary(plan: pd.DataFrame, *, max_age_days: float) -> dict[str, Any]:
    """The JSON summary of one plan: bound, count, bytes and the paths."""
    return {
        "max_age_days": max_age_days,
        "entries": len(plan),
        "bytes": int(plan["size_bytes"].sum()),
        "paths": plan["path"].tolist(),
    }
