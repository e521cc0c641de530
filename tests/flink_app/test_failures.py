"""The stream CLI never hangs: it refuses a bad start at once, and a failing job ends within its restarts.

Every failure is one line, ``error [code]: message``, with a non-zero exit: 2 when refused before
the job started, 3 when the job failed for good (with the job's root cause, not a log pointer).
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from flink_app.config import load_config
from flink_app.job import ScoreMiniBatches

from streamflow.core import ContractConfig
from streamflow.devtools.stream_benchmark import InMemoryContext, synthetic_bundle
from streamflow.generator import GeneratorConfig, generate_stream
from tests.conftest import REPO_ROOT
from tests.factories import sink_records

BOUND_SECONDS = 150  # restarts (2 × 1 s) and Flink's start-up several times over: a hang fails the test


@pytest.fixture(scope="module")
def small_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    stream = generate_stream(
        GeneratorConfig.from_dict({"n_events": 300, "days": 1, "n_stores": 20}, []), ContractConfig()
    )
    path = tmp_path_factory.mktemp("input") / "events.jsonl"
    path.write_text("".join(stream.partitions.values()), encoding="utf-8")
    return path


def _score(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flink_app", "score", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=BOUND_SECONDS,
        check=False,
    )


def _error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    return next(line for line in result.stderr.splitlines() if line.startswith("error ["))


def test_an_output_path_that_is_a_file_is_refused_before_the_job_starts(small_input: Path, tmp_path: Path) -> None:
    (tmp_path / "outfile").write_text("hi\n")
    result = _score("--input", str(small_input), "--output", str(tmp_path / "outfile"), "--model", "none")
    assert result.returncode == 2
    assert _error_line(result).startswith(f"error [output_not_writable]: --output {tmp_path / 'outfile'} is a file")
    assert "Scoring with" not in result.stdout  # no job was started


def test_a_rule_parameter_of_the_wrong_type_is_refused_at_load(small_input: Path, tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(REPO_ROOT / "conf", conf, ignore=shutil.ignore_patterns("local"))
    rules = conf / "base/parameters_fraud_rules.yml"
    rules.write_text(rules.read_text().replace("max_speed_kmh: 900.0", 'max_speed_kmh: "fast"'))
    result = _score("--input", str(small_input), "--output", str(tmp_path / "out"), "--conf-dir", str(conf))
    assert result.returncode == 2
    assert _error_line(result) == (
        "error [config_bad_type]: fraud_rules.impossible_travel.max_speed_kmh: expected a number, got 'fast' (str)"
    )


def test_labels_that_cannot_be_read_are_refused_before_the_job_starts(small_input: Path, tmp_path: Path) -> None:
    common = ("--input", str(small_input), "--output", str(tmp_path / "out"), "--model", "none")
    missing = _score(*common, "--labels", str(tmp_path / "nowhere"))
    assert missing.returncode == 2
    assert _error_line(missing) == f"error [labels_missing]: --labels {tmp_path / 'nowhere'} does not exist"
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "outcomes.csv").write_text("transaction_id,is_fraud\nT1,true\n", encoding="utf-8")
    no_header = _score(*common, "--labels", str(tmp_path / "labels"))
    assert no_header.returncode == 2
    assert "WARNING [bad_header]: outcomes.csv" in no_header.stderr  # said, and not read
    assert _error_line(no_header).startswith("error [labels_empty]: --labels")
    assert "Scoring with" not in missing.stdout + no_header.stdout


def test_a_model_that_reads_outcomes_is_refused_without_them(small_input: Path, tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(REPO_ROOT / "conf", conf, ignore=shutil.ignore_patterns("local"))
    features = conf / "base/parameters_features.yml"
    features.write_text(
        features.read_text().replace("    - amount_ratio\n", "    - amount_ratio\n    - merchant_fraud_rate_7d\n")
    )
    result = _score("--input", str(small_input), "--output", str(tmp_path / "out"), "--conf-dir", str(conf))
    assert result.returncode == 2
    assert _error_line(result).startswith(
        "error [config_error]: features.model reads known outcomes ['merchant_fraud_rate_7d']: give the job"
    )


@pytest.fixture
def tampered_bundle(tmp_path: Path) -> Path:
    """A bundle whose manifest was edited after packaging (``alpha`` as a string)."""
    folder = tmp_path / "bundle"
    synthetic_bundle(folder, model_version="tampered", n_trees=5, n_rows=200)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "alpha": "0.3"}))
    return folder


def test_a_tampered_bundle_fails_at_start_when_the_model_is_required(
    small_input: Path, tmp_path: Path, tampered_bundle: Path
) -> None:
    args = ["--input", str(small_input), "--output", str(tmp_path / "out"), "--model", str(tampered_bundle)]
    result = _score(*args, "--require-model")
    assert result.returncode == 2
    line = _error_line(result)
    assert line.startswith("error [model_required]: model bundle")
    assert "(model_bundle_corrupt)" in line
    assert "manifest.json does not match its checksum" in line


def test_a_tampered_bundle_scores_rules_only_loudly_when_the_model_is_optional(
    small_input: Path, tmp_path: Path, tampered_bundle: Path
) -> None:
    result = _score("--input", str(small_input), "--output", str(tmp_path / "out"), "--model", str(tampered_bundle))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "WARNING [model_bundle_corrupt]" in result.stderr
    assert "GCSFileSystem" not in result.stderr  # Beam's import warning, at every start before
    assert "Scoring with RULES ONLY" in result.stderr
    assert "model            rules-only (model_bundle_corrupt)" in result.stdout
    assert f"checkpoints in file://{tmp_path / 'out/state/checkpoints'}" in result.stdout  # with the run
    assert any((tmp_path / "out/state/checkpoints").iterdir())
    scored = sink_records(tmp_path / "out/scored")
    assert scored
    assert {record["model_version"] for record in scored} == {"rules-only"}


def test_a_job_that_fails_while_running_exits_with_its_root_cause(small_input: Path, tmp_path: Path) -> None:
    """A sink folder that cannot be made fails every attempt: the CLI ends after the restarts, exit 3."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out/scored").write_text("a file where the job writes a folder\n")
    result = _score("--input", str(small_input), "--output", str(tmp_path / "out"), "--model", "none")
    assert result.returncode == 3, result.stderr[-2000:]
    line = _error_line(result)
    assert line.startswith(
        "error [stream_job_failed]: the job failed for good (restart strategy fixed-delay, 2 attempts)"
    )
    assert f"java.io.IOException: Failed to create the parent directory: {tmp_path / 'out/scored'}/" in line


def test_a_checkpoint_that_cannot_be_read_fails_the_start_with_its_cause(small_input: Path, tmp_path: Path) -> None:
    (tmp_path / "junk/chk-1").mkdir(parents=True)
    (tmp_path / "junk/chk-1/_metadata").write_text("not a checkpoint")
    result = _score(
        "--input", str(small_input), "--output", str(tmp_path / "out"), "--model", "none",
        "--recover-from", str(tmp_path / "junk/chk-1"),
    )  # fmt: skip
    assert result.returncode == 3
    assert "Unexpected magic number" in _error_line(result)


class RecordingMetrics:
    """A metric group that records the groups and gauges registered on it (paths like ``a.b.gauge``)."""

    def __init__(self, path: str = "", gauges: dict[str, object] | None = None) -> None:
        self.path = path
        self.gauges: dict[str, object] = {} if gauges is None else gauges

    def add_group(self, name: str, value: str | None = None) -> "RecordingMetrics":
        child = f"{self.path}.{name}" + (f".{value}" if value is not None else "")
        return RecordingMetrics(child.lstrip("."), self.gauges)

    def gauge(self, name: str, read: object) -> None:
        self.gauges[f"{self.path}.{name}"] = read

    def __getattr__(self, name: str) -> object:  # counters and distributions: not recorded
        return lambda *args, **kwargs: self


def test_a_task_scoring_rules_only_for_a_corrupt_bundle_reports_it_on_a_gauge(tampered_bundle: Path) -> None:
    metrics = RecordingMetrics()
    context = InMemoryContext()
    context.get_metrics_group = lambda: metrics  # type: ignore[method-assign]
    ScoreMiniBatches(load_config(), str(tampered_bundle), source="test").open(context)
    assert metrics.gauges["streamflow.model_version.rules-only.model_loaded"]() == 0  # type: ignore[operator]
    assert metrics.gauges["streamflow.model_error.model_bundle_corrupt.model_load_failed"]() == 1  # type: ignore[operator]
