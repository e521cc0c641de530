"""What a finished run did, read back from its inputs and outputs (plain Python, no Flink)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from streamflow.core.errors import LandingFileError
from streamflow.core.landing import is_ignored, landed_kind, landed_lines

OUTPUT_NAMES = ("scored", "alerts", "dlq")
LATE_MARK = b'"late":true'  # as records.to_json writes it: compact JSON


@dataclass(frozen=True)
class StreamInput:
    """What ``--input`` holds by the landing contract: the files read (in order), their lines, the others."""

    files: list[Path]
    lines: int
    rejected: dict[str, LandingFileError] = field(default_factory=dict)


def scan_input(path: Path, *, count: bool = True) -> StreamInput:
    """The files of ``--input`` the landing contract reads, and the ones it reports (``streamflow.core.landing``).

    A folder's files are read in name order, sub-folders too; hidden and marker files (``.``,
    ``_``) are left out. Each file read is decompressed and split as the job's reader splits it, to
    count its lines (with ``count``); a ``.jsonl.gz`` that does not decompress is not read
    (``bad_compression``), like any file the contract does not read (``unsupported_file``).
    """
    candidates = [path] if path.is_file() else [file for file in sorted(path.rglob("*")) if file.is_file()]
    files: list[Path] = []
    lines = 0
    rejected: dict[str, LandingFileError] = {}
    for file in candidates:
        name = file.name if file == path else file.relative_to(path).as_posix()
        if is_ignored(name):
            continue
        try:
            if count:
                lines += len(landed_lines(name, file.read_bytes()))
            else:
                landed_kind(name)
        except LandingFileError as error:
            rejected[name] = error
            continue
        files.append(file)
    return StreamInput(files, lines, rejected)


def committed_files(folder: Path) -> list[Path]:
    """The sink's finished part files, in name order (in-progress files are hidden and left out)."""
    if not folder.is_dir():
        return []
    return [
        file
        for file in sorted(folder.rglob("*"))
        if file.is_file() and not any(part.startswith(".") for part in file.relative_to(folder).parts)
    ]


def count_lines(files: list[Path]) -> int:
    """Newline-terminated lines in output files (a last line without newline counts too)."""
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
    not_read: dict[str, str] = field(default_factory=dict)  # input files the landing contract does not read: code
    stopped_at: str | None = None  # the savepoint of a run stopped before its input's end

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
        if self.stopped_at is not None and not self.balanced:
            verdict = f"stopped with a savepoint: {self.scored + self.dead_lettered:,} events committed so far"
        not_read = ", ".join(f"{name} ({code})" for name, code in sorted(self.not_read.items())) or "none"
        return "\n".join(
            [
                "Stream summary",
                f"  files not read   {not_read}",
                f"  events in        {self.events_in:,}",
                f"  scored           {self.scored:,} ({self.late:,} late)",
                f"  alerts           {self.alerts:,}",
                f"  dead-lettered    {self.dead_lettered:,} ({codes})",
                f"  throughput       {rate:,.0f} events/s ({self.seconds:.1f} s, start-up included)",
                f"  model            {self.model_version}",
                f"  check            {verdict}",
            ]
        )


def summarize(stream_input: StreamInput, output_dir: Path, *, seconds: float, model_version: str) -> RunSummary:
    """Count the run's committed outputs, beside its input's lines and the files it did not read."""
    scored = committed_files(output_dir / "scored")
    return RunSummary(
        events_in=stream_input.lines,
        not_read={name: error.code for name, error in stream_input.rejected.items()},
        scored=count_lines(scored),
        late=count_late(scored),
        alerts=count_lines(committed_files(output_dir / "alerts")),
        dead_letters=dead_letter_codes(output_dir / "dlq"),
        seconds=seconds,
        model_version=model_version,
    )
