"""The stream's configuration, run summary and metric counts: plain Python, no Flink."""

import gzip
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from flink_app.__main__ import checkpoint_location, choose_model, label_input, parse_arguments
from flink_app.config import ModelSettings, checkpoint_uri, flink_settings, job_settings, load_config, resolve_model
from flink_app.errors import ModelRequiredError, SetupError
from flink_app.job import OutcomeInput, kafka_outcomes, kafka_topics_read, state_uid
from flink_app.metric_counts import MetricCounts
from flink_app.records import to_json
from flink_app.summary import (
    OutputProgress,
    RunSummary,
    committed_files,
    count_late,
    dead_letter_codes,
    scan_input,
    scan_labels,
    summarize,
)

from streamflow.core import ConfigError
from streamflow.core.outcomes import REQUIRED_OUTCOME_FIELDS, OutcomeError, outcome_of_line


def test_base_config_runs_files_locally_with_exactly_once_checkpoints_and_bounded_restarts() -> None:
    job = load_config().with_checkpoint_dir("/runs/one/state/checkpoints").job
    settings = flink_settings(job)
    assert job.io == "files"
    assert job.python_execution_mode == "thread"
    assert settings["execution.checkpointing.mode"] == "EXACTLY_ONCE"
    assert settings["execution.checkpointing.dir"] == "file:///runs/one/state/checkpoints"
    assert settings["state.backend.type"] == "hashmap"
    assert settings["restart-strategy.type"] == "fixed-delay"
    assert settings["restart-strategy.fixed-delay.attempts"] == "2"
    assert job.keying == "mini_batch"


def _production_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the FlinkDeployment sets: the bootstrap servers and the job's Kafka user (by secret reference)."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-0:9093")
    monkeypatch.setenv("KAFKA_USERNAME", "streamflow-scoring")
    monkeypatch.setenv("KAFKA_PASSWORD", "from-a-secret")


def test_production_restarts_back_off_and_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    _production_environment(monkeypatch)
    settings = flink_settings(load_config(env="prod").job)
    assert settings["restart-strategy.type"] == "exponential-delay"
    assert settings["restart-strategy.exponential-delay.attempts-before-reset-backoff"] == "10"
    assert settings["restart-strategy.exponential-delay.max-backoff"] == "300000 ms"


def test_each_run_checkpoints_with_its_own_output_unless_told_otherwise(tmp_path: Path) -> None:
    config = load_config()
    assert config.job.checkpoint.dir is None  # base: with the run, never a shared folder of the checkout

    def location(*argv: str) -> str:
        args = parse_arguments(["score", "--input", "x", "--output", "y", *argv])
        return checkpoint_location(args, config, tmp_path / "y")

    assert location() == str(tmp_path / "y/state/checkpoints")
    assert location("--state-dir", str(tmp_path / "s")) == str(tmp_path / "s/checkpoints")
    assert location("--state-dir", str(tmp_path / "s"), "--checkpoint-dir", "s3://b/c") == "s3://b/c"
    assert (tmp_path / "y/state/checkpoints").is_dir()
    with pytest.raises(ConfigError, match=r"checkpoint\.dir is not set"):
        flink_settings(config.job)


def test_prod_config_merges_single_keys_and_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _production_environment(monkeypatch)
    monkeypatch.setenv("STREAMFLOW_CHECKPOINT_DIR", "s3://bucket/checkpoints")
    job = load_config(env="prod").job
    assert job.io == "kafka"
    assert job.kafka.bootstrap_servers == "kafka-0:9093"
    assert 'password="from-a-secret"' in job.kafka.properties["sasl.jaas.config"]
    assert job.kafka.topics["dead_letters"] == "transactions-dlq"  # kept from base
    assert job.model.required is True
    assert flink_settings(job)["state.backend.type"] == "rocksdb"
    assert checkpoint_uri(job.checkpoint) == "s3://bucket/checkpoints"


def test_unknown_or_invalid_settings_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"stream\.checkpoint\.intervall_ms: unknown key"):
        job_settings({"checkpoint": {"intervall_ms": 5}})
    with pytest.raises(ConfigError, match=r"stream\.restart\.attempts: expected an integer, got '3'"):
        job_settings({"restart": {"attempts": "3"}})
    with pytest.raises(ConfigError, match="python_execution_mode"):
        job_settings({"python_execution_mode": "threads"})
    with pytest.raises(ConfigError, match="mini_batch needs size"):
        job_settings({"mini_batch": {"size": 0}})
    with pytest.raises(ConfigError, match=r"shards \(4\) is below stream.parallelism \(8\)"):
        job_settings({"parallelism": 8, "mini_batch": {"shards": 4}})
    assert job_settings({"parallelism": 8, "keying": "jvm", "mini_batch": {"shards": 4}}).keying == "jvm"


def test_overrides_replace_only_what_is_given() -> None:
    config = load_config().overridden(checkpoint_interval_ms=250, model_required=True)
    assert config.job.checkpoint.interval_ms == 250
    assert config.job.checkpoint.dir is None
    assert config.job.model.required is True


def test_latest_model_is_the_newest_bundle_folder(tmp_path: Path) -> None:
    for version in ("2026-01-01T00.00.00.000Z", "2026-02-01T00.00.00.000Z"):
        (tmp_path / version / "model_bundle").mkdir(parents=True)
        (tmp_path / version / "model_bundle" / "manifest.json").write_text("{}")
    assert resolve_model("latest", tmp_path) == str(tmp_path / "2026-02-01T00.00.00.000Z" / "model_bundle")
    assert resolve_model("/some/bundle", tmp_path) == "/some/bundle"


def test_no_bundle_means_rules_only_unless_required(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = load_config()
    without_bundles = replace(config, job=replace(config.job, model=ModelSettings(bundles_dir=str(tmp_path))))
    assert choose_model(None, without_bundles) is None
    assert "rules only" in capsys.readouterr().err
    assert choose_model("none", config) is None
    with pytest.raises(ModelRequiredError, match="no model bundle"):
        choose_model(None, without_bundles.overridden(model_required=True))


def test_summary_counts_lines_and_dead_letters_by_code(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text("1\n2\n3")  # no newline at the end: still three
    (tmp_path / "in" / ".hidden").write_text("x\n")
    (tmp_path / "in" / "b.jsonl.gz").write_bytes(gzip.compress(b"4\r\n5\r6\n"))  # a bare \r is not an end
    (tmp_path / "in" / "notes.txt").write_text("not events\n")
    dlq = tmp_path / "out" / "dlq" / "2026-01-01--00"
    dlq.mkdir(parents=True)
    records = [{"error_code": "bad_type", "source": "in"}, {"error_code": "bad_timestamp", "source": "labels:a.csv"}]
    (dlq / "dlq-0.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    (dlq / ".dlq-1.jsonl.inprogress.x").write_text(json.dumps({"error_code": "bad_value", "source": "in"}) + "\n")
    stream_input = scan_input(tmp_path / "in")
    assert [file.name for file in stream_input.files] == ["a.jsonl", "b.jsonl.gz"]
    assert stream_input.lines == 5
    assert {name: error.code for name, error in stream_input.rejected.items()} == {"notes.txt": "unsupported_file"}
    assert dead_letter_codes(tmp_path / "out" / "dlq") == (Counter({"bad_type": 1}), Counter({"bad_timestamp": 1}))
    scored = tmp_path / "out" / "scored" / "2026-01-01--00"
    scored.mkdir(parents=True)
    (scored / "scored-0.jsonl").write_text(to_json({"late": True}) + "\n" + to_json({"late": False}) + "\n")
    assert count_late(committed_files(tmp_path / "out" / "scored")) == 1
    summary = RunSummary(3, 2, 1, Counter({"bad_type": 1}), seconds=2.0, model_version="rules-only", late=1)
    assert summary.balanced
    assert "every event scored or dead-lettered" in summary.render()
    assert "2 (1 late)" in summary.render()
    assert not RunSummary(3, 1, 0, Counter(), seconds=1.0, model_version="m").balanced


def test_metric_counts_drain_what_was_added_since_the_last_drain() -> None:
    counts = MetricCounts(("events_in", "alerts"))
    for _ in range(3):
        counts.add("events_in")
    counts.add_code("bad_type")
    assert counts.drain() == {"events_in": 3}
    assert counts.drain_codes() == {"bad_type": 1}
    counts.add("alerts")
    assert counts.drain() == {"alerts": 1}
    assert counts.values == {"events_in": 3, "alerts": 1}


def test_output_progress_reads_on_counts_a_committed_file_once_and_rereads_a_truncated_one(tmp_path: Path) -> None:
    folder = tmp_path / "scored" / "2026-01-01--00"
    folder.mkdir(parents=True)
    in_progress = folder / ".scored-0.jsonl.inprogress.x"
    in_progress.write_text("a\nb\n")
    progress = OutputProgress([tmp_path / "scored", tmp_path / "dlq"])
    assert progress.lines() == 2
    with in_progress.open("a") as handle:
        handle.write("c\n")
    assert progress.lines() == 3
    committed = in_progress.rename(folder / "scored-0.jsonl")  # what the sink does on commit
    assert progress.lines() == 3
    committed.write_text("a\n")  # truncated back to a checkpoint
    assert progress.lines() == 1


def test_labels_are_read_by_the_label_contract_each_record_as_one_json_line(tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    (labels / "day").mkdir(parents=True)
    header = ",".join(REQUIRED_OUTCOME_FIELDS)
    row = "T1,TRUE,2026-01-02T00:00:00+00:00,chargeback,C1,S1,2026-01-01T00:00:00+00:00"
    (labels / "a.csv").write_text(f"{header}\n{row}\n", encoding="utf-8")
    (labels / "day" / "b.jsonl.gz").write_bytes(gzip.compress(b'{"transaction_id": "T2"}\n\n'))
    (labels / "bad.csv").write_text("transaction_id,is_fraud\nT3,true\n", encoding="utf-8")
    (labels / "_SUCCESS").write_text("", encoding="utf-8")
    found = scan_labels(labels)
    assert list(found.files) == ["a.csv", "day/b.jsonl.gz"]
    assert {name: error.code for name, error in found.rejected.items()} == {"bad.csv": "bad_header"}
    assert found.lines == 3  # a JSON line's blank line is a record too (invalid_json), as batch reads it
    (csv_line,) = found.files["a.csv"]
    assert outcome_of_line(csv_line).is_fraud is True  # CSV cells as a JSON object: the one parser reads it
    with pytest.raises(OutcomeError) as missing:
        outcome_of_line(found.files["day/b.jsonl.gz"][0])
    assert missing.value.code == "missing_field"
    with pytest.raises(OutcomeError) as blank:
        outcome_of_line(found.files["day/b.jsonl.gz"][1])
    assert blank.value.code == "invalid_json"


def test_the_summary_counts_the_outcomes_read_dead_lettered_and_accepted(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "e.jsonl").write_text("1\n", encoding="utf-8")
    labels = tmp_path / "labels.jsonl"
    labels.write_text("{}\n{}\n{}\n", encoding="utf-8")
    dlq = tmp_path / "out" / "dlq" / "2026-01-01--00"
    dlq.mkdir(parents=True)
    records = [
        {"error_code": "missing_field", "source": f"labels:{labels}"},
        {"error_code": "bad_type", "source": "in"},
    ]
    (dlq / "dlq-0.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    summary = summarize(
        scan_input(tmp_path / "in"),
        tmp_path / "out",
        seconds=1.0,
        model_version="m",
        labels=scan_labels(labels),
        outcomes_used=True,
    )
    assert summary.balanced  # one event in, dead-lettered; the outcomes' dead letter is theirs
    text = summary.render()
    assert "  outcomes in      3" in text
    assert "    dead-lettered  1 (missing_field 1)" in text
    assert "    accepted       2 (in the entities' state, for the events after them)" in text
    unused = replace(summary, outcomes_used=False).render()
    assert "accepted       2 (the model reads none)" in unused
    assert "outcomes in" not in replace(summary, outcomes_in=None).render()


def test_kafka_mode_reads_the_outcomes_topic_only_when_told() -> None:
    kafka = load_config().job.kafka
    assert kafka_topics_read(kafka) == [kafka.topics["transactions"]]
    assert kafka_outcomes(kafka) is None
    reading = replace(kafka, read_outcomes=True)
    assert kafka_topics_read(reading) == [kafka.topics["transactions"], kafka.outcomes_topic]
    assert kafka_outcomes(reading) == OutcomeInput((f"kafka:{kafka.outcomes_topic}/",))


def test_the_cli_writes_each_label_file_as_json_lines_for_the_file_source(tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    labels.mkdir()
    header = ",".join(REQUIRED_OUTCOME_FIELDS)
    (labels / "a.csv").write_text(f"{header}\nT1,false,x,cleared,C1,S1,y\n", encoding="utf-8")
    found, files = label_input(labels, tmp_path / "out")
    assert [file.name for file in files] == ["labels-00000.jsonl"]
    assert files[0].read_bytes() == found.files["a.csv"][0] + b"\n"
    (labels / "a.csv").unlink()
    with pytest.raises(SetupError) as empty:
        label_input(labels, tmp_path / "out")
    assert empty.value.code == "labels_empty"


def test_a_stateful_operators_uid_names_its_state_version_and_windows_other_than_the_default() -> None:
    assert state_uid("score-mini-batches", 4, ("1h", "1d", "7d", "30d")) == "score-mini-batches-v4"
    assert state_uid("score-merchants", 2, ("30m", "6h", "2d", "90d")) == "score-merchants-v2-30m-6h-2d-90d"
    windows = load_config().features.windows
    assert state_uid("score-events", 4, windows) == "score-events-v4"  # the shipped config keeps the default
