"""The Flink job's service account: the documented minimum of the operator's job role, nothing more."""

from __future__ import annotations

from tests.k8s.manifests import Manifest, one

ALL_VERBS = frozenset({"get", "list", "watch", "create", "update", "patch", "delete"})
# The `flink` job role of the Flink Kubernetes Operator's Helm chart (apache/flink-kubernetes-operator,
# helm/flink-kubernetes-operator/templates/rbac/_helpers.tpl, "flink-operator.jobRbacRules"): the
# upper bound of what a job's service account may need.
OPERATOR_JOB_ROLE = {
    ("", "pods"): ALL_VERBS,
    ("", "configmaps"): ALL_VERBS,
    ("apps", "deployments"): ALL_VERBS,
    ("apps", "deployments/finalizers"): ALL_VERBS,
}
# What the JobManager and TaskManagers call (Flink's Fabric8FlinkKubeClient and fabric8's ConfigMapLock;
# each verb is explained in k8s/base/flink/rbac.yaml and k8s/README.md, "RBAC").
DOCUMENTED = {
    ("", "pods"): frozenset({"create", "delete", "list", "watch"}),
    ("", "configmaps"): ALL_VERBS,
    ("apps", "deployments"): frozenset({"get"}),
    ("apps", "deployments/finalizers"): frozenset({"update"}),
}
# Rules on the JobManager's own Deployment name it by resourceNames.
NAMED = {("apps", "deployments"), ("apps", "deployments/finalizers")}


def _rules(role: Manifest) -> dict[tuple[str, str], tuple[frozenset[str], tuple[str, ...]]]:
    """(API group, resource) -> (verbs, resourceNames), one rule each."""
    found: dict[tuple[str, str], tuple[frozenset[str], tuple[str, ...]]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                assert (group, resource) not in found, f"{group}/{resource} is in two rules"
                found[group, resource] = (frozenset(rule["verbs"]), tuple(rule.get("resourceNames", ())))
    return found


def _flink_role(manifests: list[Manifest]) -> Manifest:
    """The Role bound to the FlinkDeployment's service account."""
    account = one(manifests, "FlinkDeployment", "streamflow-scoring")["spec"]["serviceAccount"]
    bindings = [
        m
        for m in manifests
        if m["kind"] == "RoleBinding"
        and any(s["kind"] == "ServiceAccount" and s["name"] == account for s in m["subjects"])
    ]
    assert len(bindings) == 1, f"expected one RoleBinding of {account}, found {len(bindings)}"
    assert bindings[0]["roleRef"]["kind"] == "Role"
    return one(manifests, "Role", bindings[0]["roleRef"]["name"])


def test_the_flink_role_is_the_documented_minimum(overlay: tuple[str, list[Manifest]]) -> None:
    name, manifests = overlay
    rules = _rules(_flink_role(manifests))
    assert {key: verbs for key, (verbs, _) in rules.items()} == DOCUMENTED, name
    cluster_id = one(manifests, "FlinkDeployment")["metadata"]["name"]  # the JobManager Deployment's name
    for key, (_, names) in rules.items():
        assert names == ((cluster_id,) if key in NAMED else ()), f"{name}: {key} resourceNames {names}"


def test_the_documented_minimum_is_within_the_operator_job_role() -> None:
    assert all(verbs <= OPERATOR_JOB_ROLE[key] for key, verbs in DOCUMENTED.items())
    assert DOCUMENTED[("apps", "deployments")].isdisjoint({"create", "delete", "update", "patch"})
    assert not any(resource.startswith("services") for _, resource in DOCUMENTED)


def test_no_cluster_wide_permissions(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    assert [m["kind"] for m in manifests if m["kind"] in ("ClusterRole", "ClusterRoleBinding")] == []
    for role in (m for m in manifests if m["kind"] == "Role"):
        assert not any("*" in rule["verbs"] or "*" in rule["resources"] for rule in role["rules"])
