"""The PyFlink job end to end on a real local MiniCluster (no mock of Flink)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from flink_app.records import score_event
from sklearn.ensemble import IsolationForest

from streamflow.core import ContractConfig, EventError, RulesConfig, parse_event
from streamflow.datasets import ModelBundleDataset
from streamflow.generator import GeneratorConfig, generate_stream
from streamflow.modeling.packaging import build_bundle
from tests.conftest import REPO_ROOT

RULES = RulesConfig.from_dict({"blacklist": {"store_ids": ["S00007", "S00042", "S00311"]}})


@pytest.fixture(scope="module")
def scored_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("stream")
    stream = generate_stream(
        GeneratorConfig.from_dict({"n_events": 3_000, "days": 2, "n_stores": 60, "malformed_rate": 0.02}, ["S00007"]),
        ContractConfig(),
    )
    lines = [line for text in stream.partitions.values() for line in text.splitlines()]
    (base / "in").mkdir()
    (base / "in" / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    forest = IsolationForest(n_estimators=30, random_state=0).fit(np.random.default_rng(0).normal(size=(800, 6)))
    bundle = build_bundle(
        forest,
        model_version="test-model",
        training_window={},
        training_rows=800,
        score_normalisation={"low": 0.35, "high": 0.75},
        alert_threshold=0.3,
        alpha=0.3,
    )
    ModelBundleDataset(filepath=str(base / "bundle")).save(bundle)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flink_app",
            "score",
            "--input",
            str(base / "in"),
            "--output",
            str(base / "out"),
            "--model",
            str(base / "bundle"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    def read(name: str) -> list[dict[str, object]]:
        files = sorted((base / "out" / name).rglob("*.jsonl"))
        return [json.loads(line) for path in files for line in path.read_text().splitlines()]

    return {
        "lines": lines,
        "bundle": bundle,
        "stdout": result.stdout,
        "scored": read("scored"),
        "alerts": read("alerts"),
        "dlq": read("dlq"),
    }


def test_every_event_is_scored_or_dead_lettered(scored_run: dict) -> None:  # type: ignore[type-arg]
    assert len(scored_run["lines"]) == len(scored_run["scored"]) + len(scored_run["dlq"])
    assert "Stream summary: events in" in scored_run["stdout"]


def test_dead_letters_carry_the_parser_codes(scored_run: dict) -> None:  # type: ignore[type-arg]
    expected = []
    for line in scored_run["lines"]:
        try:
            parse_event(line)
        except EventError as error:
            expected.append(error.code)
    assert sorted(record["error_code"] for record in scored_run["dlq"]) == sorted(expected)
    assert {"source", "received_at", "job_version", "model_version", "payload_size", "payload_truncated"} <= set(
        scored_run["dlq"][0]
    )


def test_stream_decisions_equal_the_core_in_the_same_order(scored_run: dict) -> None:  # type: ignore[type-arg]
    states: dict[str, object] = {}
    expected_alerts, expected_scores = [], {}
    for line in scored_run["lines"]:
        try:
            event = parse_event(line)
        except EventError:
            continue
        decision = score_event(
            states.get(event.customer_id), event, RULES, scored_run["bundle"], rules_only_threshold=0.5, scored_at=""
        )  # type: ignore[arg-type]
        states[event.customer_id] = decision.state
        expected_scores.setdefault(event.transaction_id, []).append(decision.scored["final_score"])
        if decision.alert:
            expected_alerts.append(event.transaction_id)
    got_scores: dict[str, list[float]] = {}
    for record in scored_run["scored"]:
        got_scores.setdefault(record["transaction_id"], []).append(record["final_score"])
    assert got_scores == expected_scores
    assert sorted(alert["transaction_id"] for alert in scored_run["alerts"]) == sorted(expected_alerts)
    assert all(alert["model_version"] == "test-model" for alert in scored_run["alerts"])
