"""Whose landing zone it is: the demo's (the generator wrote every file in it), a team's, or empty.

The demo only writes into an empty landing zone or its own, so it never overwrites a team's
events or outcomes; gold records whose data it holds and never mixes the two (``hooks``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamflow.core.landing import is_ignored

LANDING_FOLDERS: tuple[str, ...] = ("transactions", "labels")  # under data/01_raw
DEMO, USER, EMPTY = "demo", "user", "empty"


def landed_files(raw_root: Path) -> list[str]:
    """Every data file of the landing zone, relative to ``raw_root`` (hidden and marker files left out)."""
    found = []
    for folder in LANDING_FOLDERS:
        base = raw_root / folder
        if base.is_dir():
            found += [
                path.relative_to(raw_root).as_posix()
                for path in sorted(base.rglob("*"))
                if path.is_file() and not is_ignored(path.relative_to(base).as_posix())
            ]
    return found


def foreign_files(raw_root: Path, demo_manifest: dict[str, Any] | None) -> list[str]:
    """The landing zone's files the demo did not write (all of them without a demo manifest)."""
    written = set(demo_manifest.get("files", ())) if demo_manifest else set()
    return [name for name in landed_files(raw_root) if name not in written]


def landing_origin(raw_root: Path, demo_manifest: dict[str, Any] | None) -> str:
    """``empty``, ``demo`` (every file written by the generator) or ``user``."""
    if not landed_files(raw_root):
        return EMPTY
    return USER if foreign_files(raw_root, demo_manifest) else DEMO
