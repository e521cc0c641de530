"""Database housekeeping statements per dialect (run by ``DatabaseMaintenanceDataset``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamflow.core.config import build_dataclass


class HousekeepingError(RuntimeError):
    """Base of the housekeeping errors; ``code`` is stable."""

    code = "housekeeping_error"


@dataclass(frozen=True, slots=True)
class HousekeepingConfig:
    """What to run (``maintenance.database`` parameters).

    Attributes:
        vacuum: Reclaim the space of deleted rows (SQLite rewrites the file).
        analyze: Refresh the planner's statistics.

    """

    vacuum: bool = True
    analyze: bool = True


def parse_config(block: dict[str, Any]) -> HousekeepingConfig:
    """The housekeeping config from its parameters block (unknown keys rejected)."""
    return build_dataclass(HousekeepingConfig, block, path="maintenance.database")


def statements(dialect: str, config: HousekeepingConfig) -> list[str]:
    """The statements for ``dialect``: SQLite ``VACUUM`` then ``ANALYZE``; PostgreSQL one ``VACUUM (ANALYZE)``.

    Raises:
        HousekeepingError: For a dialect with no housekeeping.

    """
    if dialect == "sqlite":
        return [name for name, wanted in (("VACUUM", config.vacuum), ("ANALYZE", config.analyze)) if wanted]
    if dialect == "postgresql":
        if config.vacuum:
            return ["VACUUM (ANALYZE)" if config.analyze else "VACUUM"]
        return ["ANALYZE"] if config.analyze else []
    raise HousekeepingError(
        f"[{HousekeepingError.code}] no housekeeping for database dialect '{dialect}'; "
        "expected sqlite or postgresql (credentials gold_db)."
    )
