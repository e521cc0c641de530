"""Watermarks of a Kafka source with an idle partition, measured on the real connector and broker.

Events (Kafka record timestamps) go to partition 0 of a two-partition topic only; a Python function
records the watermark it sees with each event (``tests/kafka/watermark_probe.py``, in a child
process). Without idleness the idle partition holds the source's watermark at its start
(Long.MIN_VALUE) for the whole run; with ``with_idleness`` it is marked idle after the timeout and
the watermark follows partition 0. The scoring job sets no watermark strategy (it scores on
arrival, ADR 0006; ADR 0010 says what this measurement means for it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.kafka.watermark_probe import FIRST_EVENT_MS

pytestmark = pytest.mark.kafka

LONG_MIN = -(2**63)
EVENTS = 25
IDLE_TIMEOUT_MS = 300


def watermarks_seen(bootstrap: str, tmp_path: Path, *, idleness_ms: int | None) -> list[tuple[int, int]]:
    """``(event time, watermark)`` for each event the probe job saw."""
    out = tmp_path / "watermarks.csv"
    command = [sys.executable, "-m", "tests.kafka.watermark_probe", "--bootstrap", bootstrap, "--out", str(out)]
    command += ["--events", str(EVENTS)] + (["--idleness-ms", str(idleness_ms)] if idleness_ms is not None else [])
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    pairs = [(int(first), int(second)) for first, second in (line.split(",") for line in out.read_text().splitlines())]
    assert len(pairs) == EVENTS, f"the job saw {len(pairs)} of {EVENTS} events"
    return pairs


def test_an_idle_partition_holds_the_watermark_without_idleness(kafka_broker: str, tmp_path: Path) -> None:
    pairs = watermarks_seen(kafka_broker, tmp_path, idleness_ms=None)
    assert {watermark for _, watermark in pairs} == {LONG_MIN}  # frozen at the start for the whole run


def test_with_idleness_the_watermark_follows_the_busy_partition(kafka_broker: str, tmp_path: Path) -> None:
    pairs = watermarks_seen(kafka_broker, tmp_path, idleness_ms=IDLE_TIMEOUT_MS)
    later = pairs[EVENTS // 2 :]  # well after the idle timeout
    assert all(watermark > LONG_MIN for _, watermark in later)
    # It trails the newest event time of partition 0 (bound 0 ms, minus 1 ms) and never passes it.
    assert all(watermark < event_time for event_time, watermark in later)
    assert later[-1][1] >= FIRST_EVENT_MS + (EVENTS // 2) * 1000
