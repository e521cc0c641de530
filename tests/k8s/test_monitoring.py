"""Alert rules and the dashboard name only metrics that exist, and every alert has a runbook section."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.k8s.manifests import K8S_DIR, REPO_ROOT, Manifest, one

JOB_SOURCE = REPO_ROOT / "flink_app" / "job.py"
RUNBOOKS = REPO_ROOT / "docs" / "runbooks.md"
DASHBOARD = K8S_DIR / "base" / "monitoring" / "streamflow-dashboard.json"
JOB_PREFIX = "flink_taskmanager_job_task_operator_streamflow_"
# Prometheus name suffix of each job metric -> the names flink_app/job.py registers it under
# (metric group `streamflow`; a key-value group adds its key to the name and its value as a label).
JOB_METRICS = {
    "events_in": ("events_in",),
    "dead_letters": ("dead_letters",),
    "events_scored": ("events_scored",),
    "alerts": ("alerts",),
    "late_events": ("late_events",),
    "dead_letters_by_code_count": ("dead_letters_by_code", "count"),
    "model_version_model_loaded": ("model_version", "model_loaded"),
    "watermark_ms": ("watermark_ms",),
}
# Flink's own metrics the rules and the dashboard use (Flink 2.x names, Prometheus reporter).
FLINK_METRICS = {
    "flink_jobmanager_job_uptime",
    "flink_jobmanager_job_numRestarts",
    "flink_jobmanager_job_numberOfFailedCheckpoints",
    "flink_jobmanager_job_numberOfCompletedCheckpoints",
    "flink_jobmanager_job_lastCheckpointDuration",
    "flink_jobmanager_job_lastCheckpointSize",
    "flink_taskmanager_job_task_operator_pendingRecords",
    "flink_taskmanager_job_task_operator_KafkaSourceReader_KafkaConsumer_records_lag_max",
    "flink_taskmanager_job_task_busyTimeMsPerSecond",
    "flink_taskmanager_job_task_backPressuredTimeMsPerSecond",
}
EXPECTED_ALERTS = {
    "StreamflowJobDown",
    "StreamflowJobRestarting",
    "StreamflowCheckpointFailing",
    "StreamflowCheckpointsStalled",
    "StreamflowConsumerLagHigh",
    "StreamflowEndToEndLatencyHigh",
    "StreamflowDeadLetterRateHigh",
    "StreamflowAlertRateAnomaly",
    "StreamflowModelNotLoaded",
}
METRIC_TOKEN = re.compile(r"\bflink_[A-Za-z0-9_]+")
RECORDING_TOKEN = re.compile(r"\bstreamflow:[a-z0-9_:]+")


@pytest.fixture(scope="module")
def rules(overlays: dict[str, list[Manifest]]) -> list[dict[str, Any]]:
    """Every rule of the PrometheusRule (the same in every overlay)."""
    found = [one(manifests, "PrometheusRule", "streamflow-scoring")["spec"] for manifests in overlays.values()]
    assert all(spec == found[0] for spec in found)
    return [rule for group in found[0]["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> Iterator[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield target["expr"]


def _unknown_metrics(expressions: list[str]) -> list[str]:
    source = JOB_SOURCE.read_text(encoding="utf-8")
    unknown = []
    for token in sorted({t for expr in expressions for t in METRIC_TOKEN.findall(expr)}):
        if token.startswith(JOB_PREFIX):
            names = JOB_METRICS.get(token.removeprefix(JOB_PREFIX))
            if names is None or not all(f'"{name}"' in source for name in names):
                unknown.append(token)
        elif token not in FLINK_METRICS:
            unknown.append(token)
    return unknown


def _balanced(expr: str) -> bool:
    depth = {"(": 0, "[": 0, "{": 0}
    closing = {")": "(", "]": "[", "}": "{"}
    for char in re.sub(r'"[^"]*"', "", expr):
        if char in depth:
            depth[char] += 1
        elif char in closing:
            depth[closing[char]] -= 1
            if depth[closing[char]] < 0:
                return False
    return not any(depth.values())


def test_the_job_registers_its_metrics_in_the_streamflow_group() -> None:
    assert 'METRIC_GROUP = "streamflow"' in JOB_SOURCE.read_text(encoding="utf-8")


def test_alert_rules_cover_the_slos(rules: list[dict[str, Any]]) -> None:
    alerts = {rule["alert"]: rule for rule in rules if "alert" in rule}
    assert set(alerts) == EXPECTED_ALERTS
    assert all(rule["labels"]["severity"] in ("warning", "critical") for rule in alerts.values())


def test_every_alert_links_an_existing_runbook_section(rules: list[dict[str, Any]]) -> None:
    headings = {
        line.lstrip("#").strip().lower()
        for line in RUNBOOKS.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }
    for rule in rules:
        if "alert" in rule:
            url = rule["annotations"]["runbook_url"]
            assert url == f"docs/runbooks.md#{rule['alert'].lower()}"
            assert rule["alert"].lower() in headings, f"docs/runbooks.md has no section {rule['alert']}"


def test_rules_and_dashboard_name_only_registered_metrics(rules: list[dict[str, Any]]) -> None:
    expressions = [rule["expr"] for rule in rules] + list(_dashboard_exprs())
    assert _unknown_metrics(expressions) == []
    assert all(_balanced(expr) for expr in expressions)


def test_the_metric_check_catches_a_misspelt_metric() -> None:
    assert _unknown_metrics([f"rate({JOB_PREFIX}event_scored[5m])", "flink_jobmanager_job_uptme"]) == [
        "flink_jobmanager_job_uptme",
        f"{JOB_PREFIX}event_scored",
    ]


def test_recording_rules_used_are_defined(rules: list[dict[str, Any]]) -> None:
    defined = {rule["record"] for rule in rules if "record" in rule}
    used = {t for expr in [r["expr"] for r in rules] + list(_dashboard_exprs()) for t in RECORDING_TOKEN.findall(expr)}
    assert used <= defined
    assert defined <= used


def test_the_dashboard_ships_as_a_grafana_sidecar_configmap(overlays: dict[str, list[Manifest]]) -> None:
    for manifests in overlays.values():
        config_map = one(manifests, "ConfigMap", "streamflow-grafana-dashboard")
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        dashboard = json.loads(config_map["data"]["streamflow-dashboard.json"])
        assert dashboard["uid"] == "streamflow-scoring"
        assert len(dashboard["panels"]) >= 8
