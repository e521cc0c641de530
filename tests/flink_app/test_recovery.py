"""Exactly-once recovery on a real MiniCluster: kill the job mid-stream (SIGKILL, after output was
committed), restart it from the retained checkpoint with the same model bundle, and find every
output record exactly once, with the decisions (and so the per-customer state behind them) of an
uninterrupted run. Also: rules only without a bundle, and a required bundle that is missing stops
the job before it starts."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from streamflow.core import ContractConfig
from streamflow.devtools.stream_benchmark import synthetic_bundle
from streamflow.generator import GeneratorConfig, generate_stream
from tests.conftest import REPO_ROOT
from tests.factories import sink_records
from tests.flink_app.test_job_minicluster import expected_decisions

CHECKPOINT_INTERVAL_MS = 1_000
RUN_TIMEOUT_S = 300
OVERWRITTEN = "overwritten-after-the-kill"


def write_events(folder: Path, n_events: int) -> list[str]:
    stream = generate_stream(
        GeneratorConfig.from_dict(
            {"n_events": n_events, "days": 3, "n_stores": 60, "malformed_rate": 0.01}, ["S00007"]
        ),
        ContractConfig(),
    )
    lines = [line for name in sorted(stream.partitions) for line in stream.partitions[name].splitlines()]
    folder.mkdir()
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def score_command(input_dir: Path, output_dir: Path, checkpoints: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "flink_app",
        "score",
        "--input",
        str(input_dir),
        "--output",
        str(output_dir),
        "--checkpoint-dir",
        str(checkpoints),
        "--checkpoint-interval-ms",
        str(CHECKPOINT_INTERVAL_MS),
        *extra,
    ]


def completed_checkpoints(checkpoints: Path) -> list[Path]:
    """Retained ``chk-N`` folders with their metadata written, oldest first."""
    found = [path.parent for path in checkpoints.glob("*/chk-*/_metadata")]
    return sorted(found, key=lambda path: int(path.name.split("-")[1]))


def kill_after_a_checkpoint(command: list[str], output: Path, checkpoints: Path) -> None:
    """Start the job, SIGKILL it (its whole process group) once a checkpoint completed and output was committed."""
    job = subprocess.Popen(  # its own process group: the client and the JVM it starts
        command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline and job.poll() is None:
            if completed_checkpoints(checkpoints) and sink_records(output / "scored"):
                break
            time.sleep(0.1)
        assert job.poll() is None, "the job finished before it could be killed mid-stream"
        os.killpg(job.pid, signal.SIGKILL)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
        job.wait(timeout=60)


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def recovered_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("recovery")
    lines = write_events(base / "in", 40_000)
    bundle, _ = synthetic_bundle(
        base / "bundle", model_version="recovery-model", n_trees=30, n_rows=800, alert_threshold=0.3
    )
    output, checkpoints = base / "out", base / "checkpoints"
    command = [*score_command(base / "in", output, checkpoints), "--model", str(base / "bundle")]
    kill_after_a_checkpoint(command, output, checkpoints)
    committed_before_kill = sink_records(output / "scored")
    last = completed_checkpoints(checkpoints)[-1]
    # The first line was read before any output was committed, so before the retained checkpoint.
    # It now reads as garbage: a job restored from the checkpoint never reads it again, a job
    # started from scratch would dead-letter it as invalid_json.
    garbage = json.dumps({OVERWRITTEN: ""})  # as long as the first line: the restored split keeps its length
    garbage = json.dumps({OVERWRITTEN: "#" * (len(lines[0].encode()) - len(garbage.encode()))})
    (base / "in" / "events.jsonl").write_text("\n".join([garbage, *lines[1:]]) + "\n", encoding="utf-8")
    restarted = run([*command, "--recover-from", str(last)])
    assert restarted.returncode == 0, restarted.stdout[-3000:] + restarted.stderr[-3000:]
    return {
        "lines": lines,
        "bundle": bundle,
        "committed_before_kill": committed_before_kill,
        "stdout": restarted.stdout,
        "scored": sink_records(output / "scored"),
        "alerts": sink_records(output / "alerts"),
        "dlq": sink_records(output / "dlq"),
    }


def test_output_was_committed_before_the_kill_and_the_restart_restored_the_checkpoint(recovered_run: dict) -> None:  # type: ignore[type-arg]
    committed = recovered_run["committed_before_kill"]
    assert len(committed) > 0  # a restart from scratch would emit these again: duplicates below
    assert len(committed) < len(recovered_run["lines"])  # killed mid-stream
    final_ids = [record["transaction_id"] for record in recovered_run["scored"]]
    assert {record["transaction_id"] for record in committed} <= set(final_ids)
    assert all(OVERWRITTEN not in record["payload"] for record in recovered_run["dlq"])  # its position was restored
    assert "recovery-model" in recovered_run["stdout"]


def test_the_restarted_job_accounts_for_every_event(recovered_run: dict) -> None:  # type: ignore[type-arg]
    assert "every event scored or dead-lettered" in recovered_run["stdout"]


def test_every_record_is_committed_exactly_once(recovered_run: dict) -> None:  # type: ignore[type-arg]
    scored_ids = [record["transaction_id"] for record in recovered_run["scored"]]
    assert len(scored_ids) == len(set(scored_ids))
    assert len(recovered_run["scored"]) + len(recovered_run["dlq"]) == len(recovered_run["lines"])
    alert_ids = [record["transaction_id"] for record in recovered_run["alerts"]]
    assert len(alert_ids) == len(set(alert_ids))


def test_decisions_and_state_match_an_uninterrupted_run(recovered_run: dict) -> None:  # type: ignore[type-arg]
    # Features come from the per-customer state, so equal features for every event
    # mean the restored state equals the uninterrupted one at every step.
    expected_scored, expected_alerts, expected_codes = expected_decisions(
        recovered_run["lines"], recovered_run["bundle"]
    )
    got = {record["transaction_id"]: record for record in recovered_run["scored"]}
    for expected in expected_scored:
        record = got[expected["transaction_id"]]
        assert record["features"] == expected["features"]
        assert record["final_score"] == expected["final_score"]
    assert sorted(record["transaction_id"] for record in recovered_run["alerts"]) == sorted(expected_alerts)
    assert sorted(record["error_code"] for record in recovered_run["dlq"]) == sorted(expected_codes)


def test_rules_only_without_a_bundle_and_said_so(tmp_path: Path) -> None:
    write_events(tmp_path / "in", 300)
    result = run([*score_command(tmp_path / "in", tmp_path / "out", tmp_path / "ck"), "--model", "none"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "rules-only" in result.stdout
    scored = sink_records(tmp_path / "out" / "scored")
    assert scored
    assert all(record["model_version"] == "rules-only" and record["ml_score"] is None for record in scored)


def test_a_required_bundle_that_is_missing_stops_the_job_at_start(tmp_path: Path) -> None:
    write_events(tmp_path / "in", 50)
    missing = tmp_path / "no-bundle"
    result = run(
        [*score_command(tmp_path / "in", tmp_path / "out", tmp_path / "ck"), "--model", str(missing), "--require-model"]
    )
    assert result.returncode == 2
    assert "model_missing" in result.stderr
    assert str(missing) in result.stderr
    assert "Scoring with" not in result.stdout  # refused before the job started
    assert not list((tmp_path / "out").rglob("*.jsonl"))


def scored_lines_written(output: Path) -> int:
    """Scored lines in finished and in-progress part files (a followed stream never finishes)."""
    return sum(path.read_bytes().count(b"\n") for path in (output / "scored").rglob("*") if path.is_file())


def test_follow_picks_up_files_added_to_the_folder(tmp_path: Path) -> None:
    lines = write_events(tmp_path / "all", 4_000)
    (tmp_path / "in").mkdir()
    half = len(lines) // 2
    (tmp_path / "in" / "a.jsonl").write_text("\n".join(lines[:half]) + "\n", encoding="utf-8")
    command = [*score_command(tmp_path / "in", tmp_path / "out", tmp_path / "ck"), "--model", "none", "--follow"]
    job = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        first = wait_for(lambda: scored_lines_written(tmp_path / "out"), above=0)
        (tmp_path / "in" / "b.jsonl").write_text("\n".join(lines[half:]) + "\n", encoding="utf-8")
        second = wait_for(lambda: scored_lines_written(tmp_path / "out"), above=half)
        assert first <= half < second
        assert job.poll() is None  # still watching
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(timeout=60)


def wait_for(measure: Callable[[], int], *, above: int) -> int:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        value = measure()
        if value > above:
            return value
        time.sleep(0.5)
    raise AssertionError(f"still at most {above} after {RUN_TIMEOUT_S} s")
