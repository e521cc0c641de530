"""The job in PyFlink's ``process`` execution mode (``stream.python_execution_mode``) on a MiniCluster.

Thread mode is the default (ADR 0004); process mode is the documented switch, so it must score
as thread mode does. Both stages run: the customer and the merchant stage write their slots
through PyFlink's process-mode ``MapState``, whose ``put_all`` takes pairs, not a dict.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from flink_app.config import load_config

from streamflow.core import FEATURE_NAMES
from tests.flink_app.test_job_minicluster import LATE_CUSTOMER, outputs_of, write_generated_thirds
from tests.flink_app.test_recovery import run, score_command
from tests.flink_app.test_two_entities import (
    MALFORMED_OUTCOMES,
    MERCHANT_FEATURES,
    batch_expectation,
    conf_with_features,
    write_labels,
)


def test_process_mode_scores_both_stages_as_the_batch_table(tmp_path: Path) -> None:
    names = (*FEATURE_NAMES, *MERCHANT_FEATURES)
    lines = write_generated_thirds(tmp_path / "in")
    outcome_lines = write_labels(tmp_path / "labels", lines)
    conf = conf_with_features(tmp_path / "conf", names)
    stream_yml = conf / "base/stream.yml"
    stream_yml.write_text(
        stream_yml.read_text().replace("python_execution_mode: thread", "python_execution_mode: process")
    )
    assert load_config(conf).job.python_execution_mode == "process"
    command = score_command(tmp_path / "in", tmp_path / "out", tmp_path / "checkpoints")
    result = run([*command, "--conf-dir", str(conf), "--labels", str(tmp_path / "labels")])  # rules only
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "every event scored or dead-lettered" in result.stdout
    outputs = outputs_of(tmp_path / "out")
    outcomes_dlq = [record for record in outputs["dlq"] if record["source"].startswith("labels:")]
    assert len(outputs["scored"]) + len(outputs["dlq"]) == len(lines) + len(outcomes_dlq)
    assert len(outcomes_dlq) == sum(MALFORMED_OUTCOMES.values())
    scored = [record for record in outputs["scored"] if record["customer_id"] != LATE_CUSTOMER]
    ids = [record["transaction_id"] for record in scored]
    stream = pd.DataFrame([record["features"] for record in scored], index=ids)[list(names)]
    batch = batch_expectation(lines, names, conf, outcome_lines).loc[ids, list(names)]
    batch.index = pd.Index(ids)
    pd.testing.assert_frame_equal(stream, batch.astype(np.float64), check_exact=True)
