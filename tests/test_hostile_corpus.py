"""One verdict per line: batch (bronze, silver) and stream (the Flink job) judge a corpus of hostile files alike.

The corpus (``tests/hostile_corpus.py``) holds a latin-1 byte in a string, a bare ``\\r`` in an event
and in a string, old Mac line endings, CRLF, a byte-order mark, a gzipped file, a broken one, a
``.txt`` file, hidden and marker files, an event dated ten years ahead, a blank line, a missing final
newline and every malformed kind of the generator. Both paths must give every line the expected code,
report the same files as not read, and account for every line read.
"""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import REPO_ROOT
from tests.factories import sink_records
from tests.hostile_corpus import SCORED, tag_of, write_hostile_files

Verdicts = Counter[tuple[str, str]]


def batch_verdicts(project: Path) -> tuple[Verdicts, dict[str, str]]:
    """``(tag, code)`` of every bronze line after silver, and the files bronze did not read."""
    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        session.run(pipeline_names=["bronze", "silver"])
    bronze = pd.read_parquet(project / "data/02_intermediate/bronze_transactions.parquet")
    quarantine = pd.read_parquet(project / "data/03_primary/quarantine.parquet")
    duplicates = pd.read_parquet(project / "data/03_primary/silver_duplicates.parquet")
    silver = pd.read_parquet(project / "data/03_primary/silver_transactions.parquet")
    codes = {
        **{(row.source_file, row.line_number): row.error_code for row in quarantine.itertuples()},
        **{(row.source_file, row.line_number): "duplicate_transaction_id" for row in duplicates.itertuples()},
        **{(row.source_file, row.line_number): SCORED for row in silver.itertuples()},
    }
    verdicts: Verdicts = Counter(
        (tag_of(row.payload), codes[(row.source_file, row.line_number)]) for row in bronze.itertuples()
    )
    report = json.loads((project / "data/08_reporting/landing_report.json").read_text())
    return verdicts, {entry["file"]: entry["error_code"] for entry in report["rejected_files"]}


def stream_verdicts(landing: Path, output: Path) -> tuple[Verdicts, dict[str, str], str]:
    """``(tag, code)`` of every scored record and dead letter of the job, the files it did not read, its summary."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flink_app",
            "score",
            "--input",
            str(landing),
            "--output",
            str(output),
            "--model",
            "none",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]

    verdicts: Verdicts = Counter((str(record["transaction_id"]), SCORED) for record in sink_records(output / "scored"))
    verdicts.update(
        (tag_of(str(record["payload"])), str(record["error_code"])) for record in sink_records(output / "dlq")
    )
    not_read_line = next(line for line in result.stdout.splitlines() if "files not read" in line)
    not_read = dict(
        entry.rstrip(")").split(" (") for entry in not_read_line.split("files not read", 1)[1].strip().split(", ")
    )
    return verdicts, not_read, result.stdout


def test_batch_and_stream_give_every_hostile_line_the_same_verdict(kedro_project: Path, tmp_path: Path) -> None:
    landing = kedro_project / "data/01_raw/transactions"
    expected, not_read = write_hostile_files(landing)

    batch, batch_not_read = batch_verdicts(kedro_project)
    stream, stream_not_read, summary = stream_verdicts(landing, tmp_path / "stream")

    assert batch == expected
    assert stream == expected
    assert batch_not_read == stream_not_read == not_read
    assert "every event scored or dead-lettered" in summary  # lines counted as the reader splits them
    assert f"events in        {sum(expected.values())}" in summary
    assert not any(tag == "H90" for tag, _ in stream | batch)  # hidden files are never data
