"""Every overlay builds, its Kubernetes objects validate, and it meets the security baseline."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from tests.k8s.manifests import OVERLAYS, Manifest, is_core, one, pod_specs

KUBERNETES_VERSION = "1.37.0"
# The custom kinds the overlays may hold, by API group; every one is schema-checked against its CRD
# in test_custom_resources.py (and its content in test_flinkdeployment.py, test_kafka_security.py, ...).
CUSTOM_KINDS = {
    ("flink.apache.org", "FlinkDeployment"),
    ("kafka.strimzi.io", "KafkaTopic"),
    ("kafka.strimzi.io", "KafkaUser"),
    ("kafka.strimzi.io", "Kafka"),
    ("kafka.strimzi.io", "KafkaNodePool"),
    ("monitoring.coreos.com", "PodMonitor"),
    ("monitoring.coreos.com", "PrometheusRule"),
}


def test_every_overlay_builds_into_one_namespace(overlay: tuple[str, list[Manifest]]) -> None:
    name, manifests = overlay
    assert manifests, f"overlay {name} built to nothing"
    namespaced = [m for m in manifests if m["kind"] != "Namespace"]
    assert {m["metadata"].get("namespace") for m in namespaced} == {"streamflow"}
    assert all(m["metadata"]["labels"]["app.kubernetes.io/part-of"] == "streamflow" for m in manifests)


def test_core_objects_validate_against_the_kubernetes_schemas(overlay: tuple[str, list[Manifest]]) -> None:
    name, manifests = overlay
    core = [m for m in manifests if is_core(m)]
    assert len(core) >= 10
    for manifest in core:
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(map(str, error.path))
            pytest.fail(f"{name}: {manifest['kind']}/{manifest['metadata']['name']} at {path}: {error.message}")


def test_kubernetes_validation_rejects_an_unknown_field() -> None:
    broken = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "x"},
        "spec": {"maxUnavailable": 1, "selector": {}, "maxUnavailabel": 2},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_custom_objects_are_only_the_known_kinds(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    custom = {(m["apiVersion"].split("/")[0], m["kind"]) for m in manifests if not is_core(m)}
    assert custom <= CUSTOM_KINDS
    assert ("flink.apache.org", "FlinkDeployment") in custom


def test_no_secret_values_are_in_the_manifests(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    assert [m["metadata"]["name"] for m in manifests if m["kind"] == "Secret"] == []
    for manifest in manifests:
        for where, spec in pod_specs(manifest):
            for container in spec["containers"]:
                for env in container.get("env", []):
                    looks_secret = any(word in env["name"] for word in ("PASSWORD", "SECRET", "DB_URL", "ACCESS_KEY"))
                    assert not (looks_secret and "value" in env), f"{where}: {env['name']} has a literal value"


def _restricted_violations(where: str, spec: dict[str, Any]) -> list[str]:
    pod = spec.get("securityContext", {})
    problems = []
    if pod.get("runAsNonRoot") is not True:
        problems.append(f"{where}: pod runAsNonRoot is not true")
    if pod.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: pod seccompProfile is not RuntimeDefault")
    for container in spec.get("initContainers", []) + spec["containers"]:
        context = container.get("securityContext", {})
        label = f"{where} container {container['name']}"
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{label}: allowPrivilegeEscalation is not false")
        if context.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{label}: capabilities do not drop ALL")
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{label}: root filesystem is writable")
    return problems


def test_every_pod_runs_non_root_with_no_capabilities_and_a_read_only_root(
    overlay: tuple[str, list[Manifest]],
) -> None:
    _, manifests = overlay
    specs = [found for manifest in manifests for found in pod_specs(manifest)]
    assert specs
    assert [problem for where, spec in specs for problem in _restricted_violations(where, spec)] == []


def test_the_security_check_flags_a_privileged_container() -> None:
    spec = {"securityContext": {"runAsNonRoot": True}, "containers": [{"name": "c", "securityContext": {}}]}
    assert len(_restricted_violations("Pod/x", spec)) == 4


def test_network_is_default_deny_with_explicit_allows(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    deny = one(manifests, "NetworkPolicy", "default-deny-all")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    allows = [m for m in manifests if m["kind"] == "NetworkPolicy" and m["metadata"]["name"] != "default-deny-all"]
    assert all(m["spec"].get("ingress") or m["spec"].get("egress") for m in allows)
    selected = {tuple(sorted(m["spec"]["podSelector"].get("matchLabels", {}).items())) for m in allows}
    assert (("app", "streamflow-scoring"),) in selected
    assert (("app.kubernetes.io/name", "streamflow-batch"),) in selected


def test_disruption_budgets_cover_the_flink_pods(overlays: dict[str, list[Manifest]]) -> None:
    budgets = {
        name: {m["metadata"]["name"]: m["spec"] for m in manifests if m["kind"] == "PodDisruptionBudget"}
        for name, manifests in overlays.items()
    }
    assert set(budgets) == set(OVERLAYS)
    for found in budgets.values():
        assert found["streamflow-scoring-taskmanager"]["maxUnavailable"] == 1
    # Two JobManagers in production: one may go; locally the single one has no budget (it would block drains).
    assert budgets["prod"]["streamflow-scoring-jobmanager"]["minAvailable"] == 1
    assert "streamflow-scoring-jobmanager" not in budgets["local"]


def test_the_jobmanager_budget_matches_its_replicas(overlay: tuple[str, list[Manifest]]) -> None:
    name, manifests = overlay
    replicas = one(manifests, "FlinkDeployment")["spec"]["jobManager"]["replicas"]
    has_budget = any(m["metadata"]["name"] == "streamflow-scoring-jobmanager" for m in manifests)
    assert has_budget == (replicas > 1), f"{name}: {replicas} JobManager(s), budget: {has_budget}"
    if replicas > 1:
        config = one(manifests, "FlinkDeployment")["spec"]["flinkConfiguration"]
        assert config["high-availability.type"] == "kubernetes"
