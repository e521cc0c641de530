"""Replay of dead letters fixed upstream into the raw landing zone, idempotently.

Corrected JSON lines dropped into the replay folder land as ``replay-<sha256>.jsonl``: the
name is the hash of the content, so replaying the same fix again rewrites the same file
instead of adding one. Replay files sort after the dated landing files, so silver's
"first in landing order" dedup keeps an original over a replayed copy, and gold ignores
transaction ids it already holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streamflow.core import ContractConfig, EventError, parse_event

REPLAY_PREFIX = "replay-"
HASH_CHARS = 24


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay lands and what it leaves out.

    Attributes:
        landing_files: Landing partition id (no suffix) to file content.
        accepted_lines: Lines that pass the contract, per fixed file.
        rejected: One record per line that still fails the contract.

    """

    landing_files: dict[str, str] = field(default_factory=dict)
    accepted_lines: dict[str, int] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def landing_name(content: str) -> str:
    """The content-addressed landing partition id of ``content``."""
    return REPLAY_PREFIX + hashlib.sha256(content.encode("utf-8")).hexdigest()[:HASH_CHARS]


def accepted_lines(name: str, text: str, contract: ContractConfig) -> tuple[list[str], list[dict[str, Any]]]:
    """The distinct non-blank lines of one fixed file that pass the contract, and the rejects.

    Args:
        name: The fixed file's partition id (for the reject records).
        text: Its content.
        contract: Contract limits.

    Returns:
        Accepted lines in file order (a repeated line once), and one record per rejected line.

    """
    accepted: list[str] = []
    rejected: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped in seen:
            continue
        try:
            parse_event(stripped, contract)
        except EventError as error:
            rejected.append({"file": name, "line_number": number, "error_code": error.code, "message": str(error)})
            continue
        seen.add(stripped)
        accepted.append(stripped)
    return accepted, rejected


def plan_replay(fixed_files: Mapping[str, str], contract: ContractConfig) -> ReplayPlan:
    """One landing file per fixed file with at least one accepted line.

    Args:
        fixed_files: Content per fixed file (partition id without suffix).
        contract: Contract limits; lines that still fail are reported, not landed.

    Returns:
        The replay plan; the same input always gives the same landing files.

    """
    plan = ReplayPlan()
    for name in sorted(fixed_files):
        lines, rejected = accepted_lines(name, fixed_files[name], contract)
        plan.rejected.extend(rejected)
        plan.accepted_lines[name] = len(lines)
        if lines:
            content = "\n".join(lines) + "\n"
            plan.landing_files[landing_name(content)] = content
    return plan


def replay_report(plan: ReplayPlan) -> dict[str, Any]:
    """Counts and file names of a replay, for ``dlq_replay_report``."""
    return {
        "fixed_files": len(plan.accepted_lines),
        "accepted_lines": sum(plan.accepted_lines.values()),
        "rejected_lines": len(plan.rejected),
        "landing_files": sorted(plan.landing_files),
        "accepted_by_file": dict(sorted(plan.accepted_lines.items())),
        "rejected": plan.rejected,
    }
