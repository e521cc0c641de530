"""Rescaling keeps every customer's state: a run at one parallelism, killed after a checkpoint that
covers committed output, restored from that retained checkpoint at another parallelism, makes the
decisions of an uninterrupted run (the features come from the state, so equal features at every
event mean every customer's state arrived intact), with every record committed exactly once.

Both ways: 1 to 2 and 2 to 1, on a real MiniCluster, with the default keying (mini-batches keyed
by shard) and a model bundle.
"""

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from streamflow.core.forest import ModelBundle
from streamflow.devtools.stream_benchmark import synthetic_bundle
from tests.conftest import REPO_ROOT
from tests.factories import sink_records
from tests.flink_app.test_job_minicluster import expected_decisions
from tests.flink_app.test_recovery import RUN_TIMEOUT_S, completed_checkpoints, run, score_command, write_events


class Rescaled(NamedTuple):
    lines: list[str]
    bundle: ModelBundle
    committed_before: int
    stdout: str
    scored: list[dict[str, Any]]
    dlq: list[dict[str, Any]]


def _rescaled_run(base: Path, before: int, after: int) -> Rescaled:
    lines = write_events(base / "in", 40_000)  # long enough to be stopped mid-stream
    bundle, _ = synthetic_bundle(base / "bundle", model_version="rescale-model", n_trees=30, n_rows=800)
    output, checkpoints = base / "out", base / "checkpoints"
    command = [*score_command(base / "in", output, checkpoints), "--model", str(base / "bundle")]
    job = subprocess.Popen(  # its own process group: the client and the JVM it starts
        [*command, "--parallelism", str(before)],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline and job.poll() is None:
            if completed_checkpoints(checkpoints) and sink_records(output / "scored"):
                break
            time.sleep(0.1)
        assert job.poll() is None, "the job finished before it could be stopped mid-stream"
        os.killpg(job.pid, signal.SIGKILL)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
        job.wait(timeout=60)
    committed_before = len(sink_records(output / "scored"))
    restored = run(
        [*command, "--parallelism", str(after), "--recover-from", str(completed_checkpoints(checkpoints)[-1])]
    )
    assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-3000:]
    return Rescaled(
        lines, bundle, committed_before, restored.stdout, sink_records(output / "scored"), sink_records(output / "dlq")
    )


@pytest.mark.parametrize(("before", "after"), [(1, 2), (2, 1)], ids=["1-to-2", "2-to-1"])
def test_a_restore_at_another_parallelism_keeps_every_customers_state(tmp_path: Path, before: int, after: int) -> None:
    result = _rescaled_run(tmp_path, before, after)
    assert 0 < result.committed_before < len(result.lines)
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
