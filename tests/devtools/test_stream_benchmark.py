"""The stream benchmark's steady span, read from the scored records (no Flink)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streamflow.devtools.stream_benchmark import scoring_span_seconds


def test_the_steady_span_runs_from_the_first_scored_at_to_the_last_across_part_files(tmp_path: Path) -> None:
    stamps = {
        "2026-11-22--21/scored-0.jsonl": ["2026-11-22T21:59:58.250+00:00", "2026-11-22T21:59:59.999+00:00"],
        "2026-11-22--22/scored-1.jsonl": ["2026-11-22T22:00:01.000+00:00", "2026-11-22T22:00:00.500+00:00"],
    }
    for name, part in stamps.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True)
        records = (orjson.dumps({"transaction_id": "t", "scored_at": stamp}) for stamp in part)
        path.write_bytes(b"\n".join(records) + b"\n")

    assert scoring_span_seconds(tmp_path) == pytest.approx(2.75)
