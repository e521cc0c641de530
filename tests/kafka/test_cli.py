"""Kafka mode's refusals before the job starts: one line ``error [code]: message``, exit 2, no broker needed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from flink_app.__main__ import main

from tests.conftest import REPO_ROOT


def _conf(tmp_path: Path, **kafka: object) -> Path:
    conf = tmp_path / "conf"
    shutil.copytree(REPO_ROOT / "conf" / "base", conf / "base")
    (conf / "kafkatest").mkdir()
    stream = {"stream": {"io": "kafka", "kafka": {"bootstrap_servers": "127.0.0.1:9", **kafka}}}
    (conf / "kafkatest" / "stream.yml").write_text(yaml.safe_dump(stream), encoding="utf-8")
    return conf


def _refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["score", *argv]) == 2
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error [")]
    return line


def test_until_end_is_for_kafka_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in.jsonl").write_text("{}\n", encoding="utf-8")
    line = _refused(capsys, "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "out"), "--until-end")
    assert line.startswith("error [usage]: --until-end is for Kafka mode")


def test_kafka_mode_refuses_file_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = _conf(tmp_path)
    line = _refused(capsys, "--conf-dir", str(conf), "--env", "kafkatest", "--input", str(tmp_path))
    assert line.startswith("error [usage]: Kafka mode")


def test_a_bounded_restore_is_refused_because_it_would_never_finish(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = _conf(tmp_path)
    argv = ("--conf-dir", str(conf), "--env", "kafkatest", "--until-end", "--recover-from", str(tmp_path / "chk-1"))
    line = _refused(capsys, *argv)
    assert line.startswith("error [usage]: --until-end cannot follow --recover-from")
    assert "FLINK-31006" in line


def test_a_missing_connector_jar_is_named_with_the_command_that_fetches_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-connector.jar"
    conf = _conf(tmp_path, connector_jar=str(missing))
    line = _refused(capsys, "--conf-dir", str(conf), "--env", "kafkatest", "--state-dir", str(tmp_path / "state"))
    assert line.startswith("error [kafka_connector_missing]")
    assert str(missing) in line
    assert "make kafka-artifacts" in line
