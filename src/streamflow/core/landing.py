r"""The landing zone's contract: which files hold events, and how a file's bytes become lines.

One rule for batch and stream. Bronze reads the landing zone with :func:`read_landing_zone`;
the stream CLI lists its input with :func:`landed_kind` and counts lines with :func:`landed_lines`,
and its Flink reader (``flink_app/java/.../JsonLinesFormat.java``) splits lines as
:func:`split_lines` does, byte for byte (the shared hostile corpus checks it). Every line then
goes, as raw bytes, to the one parser (``parse_event``), which decodes UTF-8 strictly.

- Events land as JSON lines: ``*.jsonl``, or gzipped ``*.jsonl.gz``. Any other file is not read
  and is reported as ``unsupported_file``; a ``.jsonl.gz`` that is not a whole gzip stream is
  reported as ``bad_compression``.
- Names (or folders) starting with ``.`` or ``_`` are not data (in-progress and marker files, as
  in Flink, Hadoop and Spark) and are ignored.
- A line ends at ``\n``; one ``\r`` before it is dropped (CRLF files). A ``\r`` anywhere else is
  part of the line (old Mac files are one long line, which the parser rejects). A final ``\n``
  does not start an extra line, and blank lines are lines (the parser rejects them), so every
  physical line is accounted for.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from streamflow.core.errors import BadCompressionError, LandingFileError, UnsupportedFileError

PLAIN, GZIPPED = ".jsonl", ".jsonl.gz"
LANDED_SUFFIXES: tuple[str, ...] = (PLAIN, GZIPPED)


def is_ignored(name: str) -> bool:
    """Whether a path (relative to the landing zone) is a hidden or marker file, never data."""
    return any(part.startswith((".", "_")) for part in PurePosixPath(name).parts)


def landed_kind(name: str, suffixes: tuple[str, ...] = LANDED_SUFFIXES) -> str:
    """How the file is read: the longest of ``suffixes`` (``.jsonl``, ``.jsonl.gz`` for events) its name ends with.

    Raises:
        UnsupportedFileError: Any other name.

    """
    kind = next((suffix for suffix in sorted(suffixes, key=len, reverse=True) if name.endswith(suffix)), None)
    if kind is None:
        expected = " or ".join(f"*{suffix}" for suffix in suffixes)
        raise UnsupportedFileError(f"{name} is not read: this landing zone reads {expected} files", file=name)
    return kind


def landed_lines(name: str, data: bytes) -> list[bytes]:
    """The lines of one landed file, decompressed if gzipped.

    Raises:
        UnsupportedFileError: The name is not ``*.jsonl`` or ``*.jsonl.gz``.
        BadCompressionError: A ``.jsonl.gz`` that is not a whole gzip stream.

    """
    return split_lines(decompressed(name, data, LANDED_SUFFIXES)[1])


def decompressed(name: str, data: bytes, suffixes: tuple[str, ...]) -> tuple[str, bytes]:
    """The file's kind (:func:`landed_kind`) and its bytes, gunzipped if ``.gz``.

    Raises:
        UnsupportedFileError: The name ends with none of ``suffixes``.
        BadCompressionError: A ``.gz`` that is not a whole gzip stream.

    """
    kind = landed_kind(name, suffixes)
    if kind.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise BadCompressionError(f"{name} is not a whole gzip stream: {exc}", file=name) from exc
    return kind, data


def split_lines(data: bytes) -> list[bytes]:
    r"""The lines of a JSON-lines file as raw bytes: ``\n`` ends a line, one ``\r`` before it is dropped."""
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


@dataclass(frozen=True)
class LandingZone:
    """What a landing zone holds: the lines of each file read, and why the others were not read."""

    lines: dict[str, list[bytes]] = field(default_factory=dict)
    rejected: dict[str, LandingFileError] = field(default_factory=dict)

    def report(self) -> dict[str, object]:
        """Counts and the rejected files with their codes, for run reports."""
        return {
            "files_read": len(self.lines),
            "lines_read": sum(len(lines) for lines in self.lines.values()),
            "files_rejected": len(self.rejected),
            "rejected_files": [
                {"file": name, "error_code": error.code, "error_message": str(error)}
                for name, error in sorted(self.rejected.items())
            ],
        }


def read_landing_zone(files: Mapping[str, bytes]) -> LandingZone:
    """Every file's lines by name (in name order), or its rejection; hidden and marker files left out."""
    zone = LandingZone()
    for name in sorted(files):
        if is_ignored(name):
            continue
        try:
            zone.lines[name] = landed_lines(name, files[name])
        except LandingFileError as error:
            zone.rejected[name] = error
    return zone
