"""Rescaling keeps every customer's state: a run at one parallelism, stopped mid-stream with a
savepoint (SIGTERM to ``python -m flink_app score --savepoint-dir``: Flink's stop-with-savepoint),
restored from that savepoint at another parallelism, makes the decisions of an uninterrupted run
(the features come from the state, so equal features at every event mean every customer's state
arrived intact), with every record committed exactly once.

Both ways, on a real MiniCluster, with the default keying (mini-batches keyed by shard) and a
model bundle: 2 to 1 with the customer-only job, 1 to 2 with the two-entity job (merchant
features: customer and merchant state). A restore with another shard count is refused, within
the bound.
"""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, NamedTuple

from streamflow.core import FEATURE_NAMES
from streamflow.core.forest import ModelBundle
from streamflow.devtools.stream_benchmark import synthetic_bundle
from tests.conftest import REPO_ROOT
from tests.factories import sink_records
from tests.flink_app.test_job_minicluster import expected_decisions
from tests.flink_app.test_recovery import RUN_TIMEOUT_S, run, score_command, write_events
from tests.flink_app.test_two_entities import (
    OUTCOME_FEATURES,
    TWO_ENTITY_FEATURES,
    assert_stream_equals_batch,
    batch_expectation,
    conf_with_features,
    write_labels,
)


class Rescaled(NamedTuple):
    conf: Path
    lines: list[str]
    bundle: ModelBundle
    committed_before: int
    stopped: str  # what the stopped run printed
    stdout: str
    scored: list[dict[str, Any]]
    dlq: list[dict[str, Any]]  # the events'
    outcome_lines: list[bytes]


def _conf_with_shards(source: Path, folder: Path, shards: int) -> Path:
    """A copy of the ``source`` configuration with another ``stream.mini_batch.shards``."""
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("local"))
    stream = folder / "base/stream.yml"
    stream.write_text(stream.read_text().replace("    shards: 128 ", f"    shards: {shards} "))
    return folder


def stop_with_savepoint(command: list[str], output: Path) -> tuple[str, str]:
    """Start the job, SIGTERM its client once output was committed; the savepoint's path and what it printed."""
    job = subprocess.Popen(  # its own process group: the client and the JVM it starts
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline and job.poll() is None and not sink_records(output / "scored"):
            time.sleep(0.1)
        assert job.poll() is None, "the job finished before it could be stopped mid-stream"
        job.send_signal(signal.SIGTERM)
        printed, _ = job.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait(timeout=60)
    assert job.returncode == 0, printed[-3000:]
    savepoint = printed.rpartition("Resume with: --recover-from ")[2].strip()
    assert "/savepoint-" in savepoint, printed[-3000:]
    return savepoint, printed


def _rescaled_run(
    base: Path, before: int, after: int, *, try_other_shards: bool = False, names: tuple[str, ...] = FEATURE_NAMES
) -> Rescaled:
    lines = write_events(base / "in", 100_000)  # long enough to be stopped mid-stream on a fast machine
    bundle, _ = synthetic_bundle(
        base / "bundle", model_version="rescale-model", n_trees=30, n_rows=800, feature_names=names
    )
    output, checkpoints = base / "out", base / "checkpoints"
    conf = conf_with_features(base / "conf-features", names)
    command = [*score_command(base / "in", output, checkpoints), "--model", str(base / "bundle")]
    command += ["--conf-dir", str(conf)]
    outcome_lines: list[bytes] = []
    if set(OUTCOME_FEATURES) & set(names):  # and outcomes waiting in merchant state
        outcome_lines = write_labels(base / "labels", lines)
        command += ["--labels", str(base / "labels")]
    stopping = [*command, "--parallelism", str(before), "--savepoint-dir", str(base / "savepoints")]
    savepoint, stopped = stop_with_savepoint(stopping, output)
    committed_before = len(sink_records(output / "scored"))
    recover = ["--recover-from", savepoint]
    if try_other_shards:  # refused: the shards' maps were cut with 128
        refused = run(
            [
                *command,
                "--parallelism",
                str(after),
                *recover,
                "--conf-dir",
                str(_conf_with_shards(conf, base / "conf", 64)),
            ]
        )
        assert refused.returncode == 3, refused.stdout[-3000:] + refused.stderr[-3000:]
        assert "[state_shard_count_changed]" in refused.stderr
        assert len(sink_records(output / "scored")) == committed_before
    restored = run([*command, "--parallelism", str(after), *recover])
    assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-3000:]
    return Rescaled(
        conf,
        lines,
        bundle,
        committed_before,
        stopped,
        restored.stdout,
        sink_records(output / "scored"),
        [record for record in sink_records(output / "dlq") if not record["source"].startswith("labels:")],
        outcome_lines,
    )


def test_a_restore_at_a_lower_parallelism_keeps_every_customers_state(tmp_path: Path) -> None:
    """The customer-only job, 2 to 1 (1 to 2 is the two-entity test's, which holds customer state too)."""
    result = _rescaled_run(tmp_path, 2, 1)
    assert 0 < result.committed_before < len(result.lines)
    assert "stopped with a savepoint" in result.stopped
    assert "every event scored or dead-lettered" in result.stdout
    scored_ids = [record["transaction_id"] for record in result.scored]
    assert len(scored_ids) == len(set(scored_ids))
    assert len(result.scored) + len(result.dlq) == len(result.lines)
    expected_scored, _, _ = expected_decisions(result.lines, result.bundle)
    got = {record["transaction_id"]: record for record in result.scored}
    for expected in expected_scored:
        record = got[expected["transaction_id"]]
        assert record["features"] == expected["features"]
        assert record["final_score"] == expected["final_score"]


def test_a_restore_at_a_higher_parallelism_keeps_every_customers_and_merchants_state(tmp_path: Path) -> None:
    """The two-entity job (ADR 0012), 1 to 2: customer and merchant state, events waiting for the merchant stage, and
    outcomes waiting in merchant state for their merchants' later events (ADR 0014).

    First the same savepoint restored under another shard count: refused within the bound.
    """
    result = _rescaled_run(tmp_path, 1, 2, try_other_shards=True, names=TWO_ENTITY_FEATURES)
    assert 0 < result.committed_before < len(result.lines)
    assert "stopped with a savepoint" in result.stopped
    scored_ids = [record["transaction_id"] for record in result.scored]
    assert len(scored_ids) == len(set(scored_ids))
    assert len(result.scored) + len(result.dlq) == len(result.lines)
    batch = batch_expectation(result.lines, TWO_ENTITY_FEATURES, result.conf, result.outcome_lines)
    assert len(batch) == len(result.scored)
    assert_stream_equals_batch(result.scored, batch, TWO_ENTITY_FEATURES, result.bundle)
