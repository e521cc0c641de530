"""Every custom object of every overlay, and every Argo CD Application, validates against its CRD.

The CRDs are the upstream ones in ``../shared/crds`` (Flink operator, Strimzi, Prometheus operator,
Argo CD); the schema is made to reject unknown fields as the API server prunes them (``structural``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.k8s.manifests import K8S_DIR, Manifest, crd_schema, crds_dir, is_core, one, schema_errors, structural
from tests.k8s.test_overlays import CUSTOM_KINDS

ARGOCD_DIR = K8S_DIR / "argocd"
# Served by the CRDs in ../shared/crds although no overlay holds one yet.
ALSO_SERVED = {("monitoring.coreos.com", "ServiceMonitor")}

SchemaOf = Callable[[Manifest], dict[str, Any]]


@pytest.fixture(scope="module")
def schema_of() -> SchemaOf:
    """The structural schema of an object's kind at its API version, read once per kind."""
    try:
        folder = crds_dir()
    except FileNotFoundError as error:
        pytest.fail(str(error))
    cache: dict[tuple[str, str], dict[str, Any]] = {}

    def schema(manifest: Manifest) -> dict[str, Any]:
        kind, version = manifest["kind"], manifest["apiVersion"].split("/")[1]
        if (kind, version) not in cache:
            cache[kind, version] = dict(structural(crd_schema(folder, kind, version)))
        return cache[kind, version]

    return schema


def applications() -> dict[str, Manifest]:
    """The Argo CD Applications in k8s/argocd, by file name."""
    found = {}
    for path in sorted(ARGOCD_DIR.glob("*.yaml")):
        documents = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
        assert len(documents) == 1, f"{path.name}: one Application a file"
        found[path.name] = documents[0]
    return found


def test_every_custom_object_of_every_overlay_validates_against_its_crd(
    overlay: tuple[str, list[Manifest]], schema_of: SchemaOf
) -> None:
    name, manifests = overlay
    custom = [m for m in manifests if not is_core(m)]
    kinds = {m["kind"] for m in custom}
    assert {"FlinkDeployment", "KafkaTopic", "KafkaUser", "PodMonitor", "PrometheusRule"} <= kinds, kinds
    errors = []
    for manifest in custom:
        try:
            schema = schema_of(manifest)
        except LookupError as error:  # a custom kind with no CRD to check it against fails, never passes
            errors.append(f"{name}: {error}")
            continue
        label = f"{name}: {manifest['kind']}/{manifest['metadata']['name']}"
        errors.extend(f"{label}: {error}" for error in schema_errors(schema, manifest))
    assert errors == []


def test_every_custom_kind_the_overlays_may_hold_has_its_crd() -> None:
    folder = crds_dir()
    for group, kind in sorted(CUSTOM_KINDS | ALSO_SERVED):
        version = "v1beta1" if group == "flink.apache.org" else "v1"
        assert crd_schema(folder, kind, version)["type"] == "object", (group, kind)


def test_crd_validation_rejects_broken_monitoring_objects(
    overlays: dict[str, list[Manifest]], schema_of: SchemaOf
) -> None:
    monitor = copy.deepcopy(one(overlays["prod"], "PodMonitor"))
    monitor["spec"]["podMetricsEndpoints"][0]["interva"] = "30s"
    assert any("interva" in error for error in schema_errors(schema_of(monitor), monitor))
    rule = copy.deepcopy(one(overlays["prod"], "PrometheusRule"))
    rule["spec"]["groups"][0]["rules"][0]["for"] = 300
    assert any("for" in error for error in schema_errors(schema_of(rule), rule))


def test_there_is_one_application_per_overlay() -> None:
    found = applications()
    assert sorted(found) == ["streamflow-local.yaml", "streamflow-prod.yaml"]
    overlays = {app["spec"]["source"]["path"] for app in found.values()}
    assert overlays == {"k8s/overlays/local", "k8s/overlays/prod"}
    for app in found.values():
        assert (K8S_DIR.parent / app["spec"]["source"]["path"] / "kustomization.yaml").is_file()


@pytest.mark.parametrize("file_name", ["streamflow-local.yaml", "streamflow-prod.yaml"])
def test_applications_validate_against_the_argocd_crd(file_name: str, schema_of: SchemaOf) -> None:
    app = applications()[file_name]
    assert schema_errors(schema_of(app), app) == []


def test_argocd_validation_rejects_a_misspelt_sync_policy(schema_of: SchemaOf) -> None:
    app = copy.deepcopy(applications()["streamflow-prod.yaml"])
    app["spec"]["syncPolicy"]["automated"]["selfHeel"] = True
    app["spec"]["syncPolicy"]["retry"]["backoff"]["factor"] = "two"
    errors = schema_errors(schema_of(app), app)
    assert any("selfHeel" in error for error in errors)
    assert any("factor" in error for error in errors)


@pytest.mark.parametrize("env", ["local", "prod"])
def test_applications_sync_automatically_with_prune_self_heal_retry_and_the_namespace(
    env: str, overlays: dict[str, list[Manifest]]
) -> None:
    app = applications()[f"streamflow-{env}.yaml"]
    assert app["metadata"]["name"] == f"streamflow-{env}"
    assert app["spec"]["source"]["path"] == f"k8s/overlays/{env}"
    namespace = one(overlays[env], "Namespace")
    assert app["spec"]["destination"]["namespace"] == namespace["metadata"]["name"]
    assert app["spec"]["destination"]["server"] == "https://kubernetes.default.svc"
    policy = app["spec"]["syncPolicy"]
    assert policy["automated"] == {"prune": True, "selfHeal": True}
    assert "CreateNamespace=true" in policy["syncOptions"]
    assert "ServerSideApply=true" in policy["syncOptions"]  # as docs/runbooks.md applies
    # The namespace Argo CD creates carries the Pod Security labels of the overlay's own Namespace.
    pod_security = {k: v for k, v in namespace["metadata"]["labels"].items() if k.startswith("pod-security.")}
    assert policy["managedNamespaceMetadata"]["labels"] == pod_security
    retry = policy["retry"]
    assert retry["limit"] >= 3
    assert retry["backoff"]["factor"] >= 2  # back-off grows: 10 s, 20 s, 40 s ...
    assert retry["backoff"]["duration"] == "10s"
    assert retry["backoff"]["maxDuration"] == "3m"
