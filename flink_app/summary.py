"""What a finished run did, read back from its inputs and outputs (plain Python, no Flink)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from streamflow.core.errors import LandingFileError
from streamflow.core.landing import is_ignored, landed_kind, landed_lines
from streamflow.core.outcomes import label_lines

OUTPUT_NAMES = ("scored", "alerts", "dlq")
LABELS_ORIGIN = "labels:"  # the origin of the lines of --labels: "labels:<file>" (a dead letter's source)
LATE_MARK = b'"late":true'  # as records.to_json writes it: compact JSON


@dataclass(frozen=True)
class StreamInput:
    """What ``--input`` holds by the landing contract: the files read (in order), their lines, the others."""

    files: list[Path]
    lines: int
    rejected: dict[str, LandingFileError] = field(default_factory=dict)


def landed_files(path: Path) -> Iterator[tuple[str, Path]]:
    """A file, or a folder's files in name order (sub-folders too), each with its name under ``path``.

    Hidden and marker files (``.``, ``_``) are left out.
    """
    candidates = [path] if path.is_file() else [file for file in sorted(path.rglob("*")) if file.is_file()]
    for file in candidates:
        name = file.name if file == path else file.relative_to(path).as_posix()
        if not is_ignored(name):
            yield name, file


def scan_input(path: Path, *, count: bool = True) -> StreamInput:
    """The files of ``--input`` the landing contract reads, and the ones it reports (``streamflow.core.landing``).

    A folder's files are read in name order, sub-folders too; hidden and marker files (``.``,
    ``_``) are left out. Each file read is decompressed and split as the job's reader splits it, to
    count its lines (with ``count``); a ``.jsonl.gz`` that does not decompress is not read
    (``bad_compression``), like any file the contract does not read (``unsupported_file``).
    """
    files: list[Path] = []
    lines = 0
    rejected: dict[str, LandingFileError] = {}
    for name, file in landed_files(path):
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


@dataclass(frozen=True)
class LabelInput:
    """What ``--labels`` holds by the label contract: each file read with its records as JSON lines, the others."""

    files: dict[str, list[bytes]]
    rejected: dict[str, LandingFileError] = field(default_factory=dict)

    @property
    def lines(self) -> int:
        """Outcome records read."""
        return sum(map(len, self.files.values()))


def scan_labels(path: Path) -> LabelInput:
    """The label files of ``--labels`` (a file or a folder, in name order), each record as one JSON line.

    ``core.outcomes.label_lines``: JSON lines as they landed, CSV rows as objects. A file the
    contract does not read (its name, its compression, a CSV header without a required column)
    is reported, not read.
    """
    files: dict[str, list[bytes]] = {}
    rejected: dict[str, LandingFileError] = {}
    for name, file in landed_files(path):
        try:
            files[name] = label_lines(name, file.read_bytes())
        except LandingFileError as error:
            rejected[name] = error
    return LabelInput(files, rejected)


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


def dead_letter_codes(folder: Path) -> tuple[Counter[str], Counter[str]]:
    """Dead letters by error code: the events', and the outcomes' (from ``--labels``)."""
    events: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for file in committed_files(folder):
        for line in file.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            (outcomes if record["source"].startswith(LABELS_ORIGIN) else events)[record["error_code"]] += 1
    return events, outcomes


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
    outcomes_in: int | None = None  # outcome records of --labels (None: no labels input)
    outcome_dead_letters: Counter[str] = field(default_factory=Counter)
    outcomes_used: bool = False  # whether the model reads outcome features (merchant_fraud_*)

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
                *_outcome_counts(self),
                f"  throughput       {rate:,.0f} events/s ({self.seconds:.1f} s, start-up included)",
                f"  model            {self.model_version}",
                f"  check            {verdict}",
            ]
        )


def _outcome_counts(summary: RunSummary) -> list[str]:
    """The summary's lines on the outcomes of ``--labels``: read, dead-lettered, accepted."""
    if summary.outcomes_in is None:
        return []
    dead = sum(summary.outcome_dead_letters.values())
    use = "in the entities' state, for the events after them" if summary.outcomes_used else "the model reads none"
    codes = ", ".join(f"{code} {count:,}" for code, count in summary.outcome_dead_letters.most_common()) or "none"
    return [
        f"  outcomes in      {summary.outcomes_in:,}",
        f"    dead-lettered  {dead:,} ({codes})",
        f"    accepted       {summary.outcomes_in - dead:,} ({use})",
    ]


def summarize(
    stream_input: StreamInput,
    output_dir: Path,
    *,
    seconds: float,
    model_version: str,
    labels: LabelInput | None = None,
    outcomes_used: bool = False,
) -> RunSummary:
    """Count the run's committed outputs, beside its inputs' lines and the files it did not read."""
    scored = committed_files(output_dir / "scored")
    dead_letters, outcome_dead_letters = dead_letter_codes(output_dir / "dlq")
    not_read = {name: error.code for name, error in stream_input.rejected.items()}
    if labels is not None:
        not_read |= {name: error.code for name, error in labels.rejected.items()}
    return RunSummary(
        events_in=stream_input.lines,
        not_read=not_read,
        scored=count_lines(scored),
        late=count_late(scored),
        alerts=count_lines(committed_files(output_dir / "alerts")),
        dead_letters=dead_letters,
        seconds=seconds,
        model_version=model_version,
        outcomes_in=None if labels is None else labels.lines,
        outcome_dead_letters=outcome_dead_letters,
        outcomes_used=outcomes_used,
    )
