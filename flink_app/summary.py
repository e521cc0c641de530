"""What a finished run did, read back from its inputs and outputs (plain Python, no Flink)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

OUTPUT_NAMES = ("scored", "alerts", "dlq")
LATE_MARK = b'"late":true'  # as records.to_json writes it: compact JSON


def input_files(path: Path) -> list[Path]:
    """A file, or the visible files under a folder in name order (the order they are read)."""
    if path.is_file():
        return [path]
    return [
        file
        for file in sorted(path.rglob("*"))
        if file.is_file() and not any(part.startswith(".") for part in file.relative_to(path).parts)
    ]


def committed_files(folder: Path) -> list[Path]:
    """The sink's finished part files (in-progress files are hidden and left out)."""
    return input_files(folder) if folder.is_dir() else []


def count_lines(files: list[Path]) -> int:
    """Newline-terminated lines in the files (a last line without newline counts too)."""
    total = 0
    for file in files:
        data = file.read_bytes()
        total += data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    return total


def count_late(files: list[Path]) -> int:
    """Scored events flagged late."""
    return sum(file.read_bytes().count(LATE_MARK) for file in files)


def dead_letter_codes(folder: Path) -> Counter[str]:
    """Dead letters by error code."""
    codes: Counter[str] = Counter()
    for file in committed_files(folder):
        for line in file.read_text(encoding="utf-8").splitlines():
            codes[json.loads(line)["error_code"]] += 1
    return codes


class OutputProgress:
    """Lines written so far under some folders, in-progress part files included.

    Files are read from where the last look stopped, keyed by inode (Flink renames a part
    file when it commits it); a file that shrank (truncated on recovery) is read again.
    """

    def __init__(self, folders: list[Path]) -> None:
        self._folders = folders
        self._read: dict[int, tuple[int, int]] = {}  # inode -> (bytes read, lines counted)

    def lines(self) -> int:
        """Newlines written under the folders so far."""
        for folder in self._folders:
            for path in folder.rglob("*") if folder.is_dir() else ():
                self._look(path)
        return sum(lines for _, lines in self._read.values())

    def _look(self, path: Path) -> None:
        try:
            status = path.stat()
            if not path.is_file():
                return
            offset, lines = self._read.get(status.st_ino, (0, 0))
            if status.st_size < offset:
                offset, lines = 0, 0
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read(status.st_size - offset)
        except FileNotFoundError:  # renamed between listing and reading: seen next time
            return
        self._read[status.st_ino] = (offset + len(chunk), lines + chunk.count(b"\n"))


@dataclass(frozen=True)
class RunSummary:
    """Counts of one run, and whether every event was accounted for."""

    events_in: int
    scored: int
    alerts: int
    dead_letters: Counter[str]
    seconds: float
    model_version: str
    late: int = 0

    @property
    def dead_lettered(self) -> int:
        """All dead letters."""
        return sum(self.dead_letters.values())

    @property
    def balanced(self) -> bool:
        """``events in == scored + dead-lettered``: nothing lost, nothing doubled."""
        return self.events_in == self.scored + self.dead_lettered

    def render(self) -> str:
        """The summary block printed at the end of a run."""
        rate = self.events_in / self.seconds if self.seconds > 0 else 0.0
        codes = ", ".join(f"{code} {count:,}" for code, count in self.dead_letters.most_common()) or "none"
        verdict = "every event scored or dead-lettered" if self.balanced else "MISMATCH: events lost or doubled"
        return "\n".join(
            [
                "Stream summary",
                f"  events in        {self.events_in:,}",
                f"  scored           {self.scored:,} ({self.late:,} late)",
                f"  alerts           {self.alerts:,}",
                f"  dead-lettered    {self.dead_lettered:,} ({codes})",
                f"  throughput       {rate:,.0f} events/s ({self.seconds:.1f} s, start-up included)",
                f"  model            {self.model_version}",
                f"  check            {verdict}",
            ]
        )


def summarize(
    inputs: list[Path], output_dir: Path, *, seconds: float, model_version: str, events_in: int | None = None
) -> RunSummary:
    """Count the run's committed outputs, and its inputs unless ``events_in`` was counted already."""
    scored = committed_files(output_dir / "scored")
    return RunSummary(
        events_in=count_lines(inputs) if events_in is None else events_in,
        scored=count_lines(scored),
        late=count_late(scored),
        alerts=count_lines(committed_files(output_dir / "alerts")),
        dead_letters=dead_letter_codes(output_dir / "dlq"),
        seconds=seconds,
        model_version=model_version,
    )
