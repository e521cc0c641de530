"""A landing zone of hostile files: every way a line or a file can go wrong, with the verdict each must get.

Shared by the batch and the stream tests (``tests/test_hostile_corpus.py``): both must give every
line the same code. Each line carries a tag (``H01``...) near its start, so a verdict can be
traced back to its line from a quarantine row, a dead letter or a scored record.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from streamflow.generator.malformed import EXPECTED_CODES, malformed_line

SCORED = "scored"  # the verdict of a line that passed: silver row, scored record
NO_TAG = "<no tag>"
TAG = re.compile(rb"H\d\d")


def record(tag: str, **overrides: Any) -> dict[str, Any]:
    """A valid event whose ``transaction_id`` is its tag (the first field, so a cut line keeps it)."""
    return {
        "transaction_id": tag,
        "schema_version": 1,
        "customer_id": f"C-{tag}",
        "card_id": "K1",
        "store_id": "S1",
        "product_id": "P1",
        "amount": 42.5,
        "currency": "EUR",
        "timestamp": "2026-01-05T12:00:00+00:00",
        "latitude": 48.8566,
        "longitude": 2.3522,
        "channel": "pos",
        **overrides,
    }


def _line(tag: str, **overrides: Any) -> bytes:
    return json.dumps(record(tag, **overrides), ensure_ascii=False).encode("utf-8")


def _malformed(tag: str, kind: str) -> bytes:
    rng = np.random.default_rng(int(tag[1:]))
    return malformed_line(kind, record(tag), rng, oversized_bytes=20_000).encode("utf-8")


def hostile_files() -> tuple[dict[str, bytes], Counter[tuple[str, str]], dict[str, str]]:
    """The files (relative name: bytes), each line's expected ``(tag, code)``, and each file not read with its code."""
    far_future = (datetime.now(UTC) + timedelta(days=3650)).isoformat()
    kinds = [kind for kind in EXPECTED_CODES if kind != "duplicate_id"]
    main: list[tuple[bytes, str]] = [
        (_line("H01"), SCORED),
        (_line("H02", store_id="Caf\u00e9").replace("Caf\u00e9".encode(), b"Caf\xe9"), "bad_encoding"),  # latin-1
        (_line("H03").replace(b', "card_id"', b',\r"card_id"'), SCORED),  # a bare \r as JSON whitespace
        (_line("H04", product_id="P\r1").replace(b"P\\r1", b"P\r1"), "invalid_json"),  # raw \r in a string
        (_line("H05", timestamp=far_future), "future_timestamp"),
        (_line("H06", customer_id="Zo\u00eb", store_id="S\u00e9"), SCORED),  # UTF-8 beyond ASCII, no escapes
        (json.dumps(record("H07", customer_id="Zo\u00eb")).encode(), SCORED),  # escaped: keyed by a JSON parser
        (_line("H08").replace(b'"amount": 42.5', b'"amount": NaN'), "invalid_json"),
        (b'["H09"]', "bad_type"),
        (b"", "invalid_json"),  # a blank line
        *((_malformed(f"H{20 + index}", kind), EXPECTED_CODES[kind]) for index, kind in enumerate(kinds)),
        (_line("H01"), "duplicate_transaction_id"),  # H01 again, byte for byte
        # a far-future event must not wipe the customer's dedup memory: both replays of H70 are caught
        (_line("H70", timestamp="2026-01-01T10:00:00+00:00"), SCORED),
        (_line("H71", customer_id="C-H70", timestamp=far_future), "future_timestamp"),
        (_line("H70", timestamp="2026-01-01T10:00:00+00:00"), "duplicate_transaction_id"),
        (_line("H70", timestamp="2026-01-01T10:00:00+00:00"), "duplicate_transaction_id"),
    ]
    gzipped = [(_line("H60"), SCORED), (_line("H61"), SCORED), (_line("H62", channel="fax"), "bad_value")]
    files = {
        "2026-01-05.jsonl": b"\n".join(line for line, _ in main) + b"\n",
        # a byte-order mark before the first line (Windows tools write one)
        "2026-01-06.jsonl": "\ufeff".encode() + _line("H40") + b"\n" + _line("H41") + b"\n",
        "2026-01-07.jsonl.gz": gzip.compress(b"\n".join(line for line, _ in gzipped) + b"\n"),
        "crlf.jsonl": _line("H50") + b"\r\n" + _line("H51") + b"\r\n",
        # old Mac line endings: one line holding three events
        "mac.jsonl": b"\r".join(_line(tag) for tag in ("H52", "H53", "H54")) + b"\r",
        "no-final-newline.jsonl": _line("H55"),
        "notes.txt": b"these are not events\n",
        "broken.jsonl.gz": b"this is not gzip",
        ".in-progress.jsonl": _line("H90") + b"\n",  # hidden: never data
        "_SUCCESS": b"",
    }
    expected = Counter(
        [(tag_of(line), code) for line, code in main]
        + [(tag_of(line), code) for line, code in gzipped]
        + [("H40", SCORED), ("H41", SCORED), ("H50", SCORED), ("H51", SCORED), ("H52", "invalid_json")]
        + [("H55", SCORED)]
    )
    not_read = {"notes.txt": "unsupported_file", "broken.jsonl.gz": "bad_compression"}
    return files, expected, not_read


def tag_of(payload: bytes | str) -> str:
    """The first tag in a payload (``<no tag>`` for a blank line)."""
    found = TAG.search(payload.encode("utf-8") if isinstance(payload, str) else payload)
    return found.group().decode() if found else NO_TAG


def write_hostile_files(folder: Path) -> tuple[Counter[tuple[str, str]], dict[str, str]]:
    """Write the corpus into ``folder``; the expected line verdicts and files not read."""
    files, expected, not_read = hostile_files()
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return expected, not_read
