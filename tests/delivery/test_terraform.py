"""infra/terraform, offline: every file parses (python-hcl2), modules are wired output to input, and
everything the rendered prod overlay needs from the infrastructure is an output of the root module.

No Terraform binary or provider runs here: ``terraform validate`` and ``plan`` are not run
(docs/delivery.md). checkov scans these files in ``make checkov``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.delivery.terraform import (
    ROOT_MODULE,
    TERRAFORM_DIR,
    block,
    blocks,
    expression,
    module_dirs,
    parse,
    resources,
    tf_files,
)
from tests.k8s.manifests import K8S_DIR, Manifest, build_overlay, find_kubectl, one, pod_specs

MODULES = ("object_storage", "gold_database", "node_pool", "flink_identity", "secrets")
REFERENCE = re.compile(r"\b(module|var)\.([a-z0-9_]+)(?:\.([a-z0-9_]+))?")
# Secrets an operator in the cluster writes, not the secret store: Strimzi's User Operator (one per
# KafkaUser, named after it) and its Cluster Operator (<cluster>-cluster-ca-cert).
WORKLOAD_IDENTITY_ANNOTATION = "iam.gke.io/gcp-service-account"


@pytest.fixture(scope="module")
def prod() -> list[Manifest]:
    """The prod overlay, rendered by kustomize."""
    return build_overlay(find_kubectl(), "prod")


def _default(name: str) -> Any:
    return blocks(ROOT_MODULE, "variable")[name]["default"]


def _references(value: Any) -> Iterator[tuple[str, str, str | None]]:
    """Every ``module.<name>.<output>`` and ``var.<name>`` inside a parsed value."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)
    elif isinstance(value, str):
        for match in REFERENCE.finditer(value):
            yield match[1], match[2], match[3]


@pytest.mark.parametrize("path", tf_files(), ids=lambda path: str(path.relative_to(TERRAFORM_DIR)))
def test_every_terraform_file_parses(path: Path) -> None:
    document = parse(path)
    assert document, f"{path} parsed to nothing"


def test_the_root_module_calls_each_module_once() -> None:
    calls = blocks(ROOT_MODULE, "module")
    assert sorted(calls) == sorted(MODULES)
    assert {name: calls[name]["source"] for name in calls} == {name: f"../modules/{name}" for name in MODULES}
    assert sorted(path.name for path in module_dirs()[1:]) == sorted(MODULES)


@pytest.mark.parametrize("folder", module_dirs(), ids=lambda folder: folder.name)
def test_every_variable_and_output_is_typed_and_described(folder: Path) -> None:
    for name, variable in blocks(folder, "variable").items():
        assert variable.get("type"), f"{folder.name}: variable {name} has no type"
        assert len(variable.get("description", "")) > 10, f"{folder.name}: variable {name} has no description"
    outputs = blocks(folder, "output")
    assert outputs, f"{folder.name} has no outputs"
    for name, output in outputs.items():
        assert len(output.get("description", "")) > 10, f"{folder.name}: output {name} has no description"


@pytest.mark.parametrize("folder", module_dirs(), ids=lambda folder: folder.name)
def test_every_var_reference_is_a_declared_variable(folder: Path) -> None:
    declared = set(blocks(folder, "variable"))
    used = {name for path in folder.glob("*.tf") for kind, name, _ in _references(parse(path)) if kind == "var"}
    assert used <= declared, f"{folder.name}: undeclared {sorted(used - declared)}"
    assert declared <= used, f"{folder.name}: unused {sorted(declared - used)}"


def test_module_calls_pass_exactly_the_inputs_each_module_takes() -> None:
    for name, call in blocks(ROOT_MODULE, "module").items():
        variables = blocks(TERRAFORM_DIR / "modules" / name, "variable")
        passed = set(call) - {"source", "depends_on"}
        required = {variable for variable, body in variables.items() if "default" not in body}
        assert passed <= set(variables), f"module {name}: no such variables {sorted(passed - set(variables))}"
        assert required <= passed, f"module {name}: required variables not passed {sorted(required - passed)}"


def test_every_module_output_used_exists() -> None:
    outputs = {name: set(blocks(TERRAFORM_DIR / "modules" / name, "output")) for name in MODULES}
    used = [
        (module, output)
        for path in ROOT_MODULE.glob("*.tf")
        for kind, module, output in _references(parse(path))
        if kind == "module" and output
    ]
    assert used
    missing = sorted({f"module.{module}.{output}" for module, output in used if output not in outputs[module]})
    assert missing == []


def _secret_references(manifests: list[Manifest]) -> dict[str, set[str]]:
    """Secret name -> the keys the overlay's pods read from it (env and volumes)."""
    found: dict[str, set[str]] = {}
    for manifest in manifests:
        for _, spec in pod_specs(manifest):
            for container in spec.get("initContainers", []) + spec["containers"]:
                for env in container.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        found.setdefault(ref["name"], set()).add(ref["key"])
                assert not any("secretRef" in source for source in container.get("envFrom", []))
            for volume in spec.get("volumes", []):
                if "secret" in volume:
                    keys = {item["key"] for item in volume["secret"].get("items", [])}
                    found.setdefault(volume["secret"]["secretName"], set()).update(keys)
    return found


def _written_in_cluster(manifests: list[Manifest]) -> set[str]:
    """The Secrets Strimzi writes for the overlay: one per KafkaUser, and each cluster's CA certificate."""
    users = {m["metadata"]["name"] for m in manifests if m["kind"] == "KafkaUser"}
    clusters = {m["metadata"]["labels"]["strimzi.io/cluster"] for m in manifests if m["kind"] == "KafkaUser"}
    return users | {f"{cluster}-cluster-ca-cert" for cluster in clusters}


def test_the_secret_store_holds_every_secret_the_prod_overlay_reads_that_no_operator_writes(
    prod: list[Manifest],
) -> None:
    referenced = _secret_references(prod)
    in_cluster = _written_in_cluster(prod)
    assert in_cluster == {"streamflow-scoring", "streamflow-batch", "streamflow-cluster-ca-cert"}
    assert in_cluster <= set(referenced)
    needed = {name: sorted(keys) for name, keys in referenced.items() if name not in in_cluster}
    declared = {name: sorted(keys) for name, keys in blocks(ROOT_MODULE, "locals")["kubernetes_secrets"].items()}
    assert declared == needed
    values = blocks(ROOT_MODULE, "module")["secrets"]["secret_values"]
    assert {name: sorted(keys) for name, keys in values.items()} == needed
    assert expression(blocks(ROOT_MODULE, "module")["secrets"]["secret_keys"]) == "local.kubernetes_secrets"


def _s3_buckets(prod: list[Manifest]) -> set[str]:
    flink = one(prod, "FlinkDeployment", "streamflow-scoring")
    texts = [str(value) for value in flink["spec"]["flinkConfiguration"].values()]
    texts += [str(env.get("value", "")) for _, spec in pod_specs(flink) for env in spec["containers"][0]["env"]]
    return {urlsplit(text).netloc for text in texts if text.startswith("s3://")}


def overlay_needs(prod: list[Manifest]) -> dict[str, str]:
    """What the rendered prod overlay takes from the infrastructure -> the root output that provides it."""
    flink = one(prod, "FlinkDeployment", "streamflow-scoring")
    cidrs = yaml.safe_load((K8S_DIR / "overlays" / "prod" / "network-cidrs.yaml").read_text(encoding="utf-8"))
    needs = {f"s3://{bucket}/": "checkpoint_bucket" for bucket in _s3_buckets(prod)}
    if "s3.endpoint" in flink["spec"]["flinkConfiguration"]:
        needs["flinkConfiguration s3.endpoint"] = "s3_endpoint"
    needs |= {f"network-cidrs {key}": "network_cidrs" for key in cidrs["data"]}
    needs["Service streamflow-gold-db externalName"] = "gold_db_hostname"
    needs[f"ServiceAccount {flink['spec']['serviceAccount']} {WORKLOAD_IDENTITY_ANNOTATION}"] = (
        "flink_service_account_email"
    )
    needs |= {f"Secret {name}": "kubernetes_secrets" for name in _secret_references(prod)}
    return needs


def missing_outputs(needs: dict[str, str], outputs: dict[str, Any]) -> list[str]:
    """The needs whose output the root module lacks."""
    return sorted(need for need, output in needs.items() if output not in outputs)


def test_every_value_the_prod_overlay_needs_is_a_root_output(prod: list[Manifest]) -> None:
    needs = overlay_needs(prod)
    assert len(needs) >= 10
    outputs = blocks(ROOT_MODULE, "output")
    assert missing_outputs(needs, outputs) == []
    cidrs = yaml.safe_load((K8S_DIR / "overlays" / "prod" / "network-cidrs.yaml").read_text(encoding="utf-8"))
    assert sorted(outputs["network_cidrs"]["value"]) == sorted(cidrs["data"])  # every key, and no other


def test_a_missing_output_is_reported(prod: list[Manifest]) -> None:
    outputs = dict(blocks(ROOT_MODULE, "output"))
    del outputs["gold_db_hostname"]
    assert missing_outputs(overlay_needs(prod), outputs) == ["Service streamflow-gold-db externalName"]


def test_names_the_overlay_hard_codes_are_the_terraform_defaults(prod: list[Manifest]) -> None:
    assert _s3_buckets(prod) == {_default("checkpoint_bucket")}
    gold = one(prod, "Service", "streamflow-gold-db")
    assert gold["spec"]["externalName"] == _default("gold_db_hostname")
    assert gold["metadata"]["name"] == _default("gold_db_service")
    flink = one(prod, "FlinkDeployment", "streamflow-scoring")
    assert flink["metadata"]["namespace"] == _default("kubernetes_namespace")
    assert flink["spec"]["serviceAccount"] == _default("flink_kubernetes_service_account")


def test_the_gold_url_is_the_one_conf_prod_reads_through_the_overlays_service() -> None:
    url = blocks(ROOT_MODULE, "module")["secrets"]["secret_values"]["streamflow-gold-db"]["url"]
    assert url.startswith("postgresql+psycopg://")  # conf/prod/credentials.yml: SQLAlchemy with psycopg 3
    assert "@${var.gold_db_service}:5432/" in url
    assert url.endswith("?sslmode=require")  # the instance accepts TLS only


def test_flink_pods_write_the_bucket_as_one_identity_bound_by_workload_identity(prod: list[Manifest]) -> None:
    identity = resources(TERRAFORM_DIR / "modules" / "flink_identity")
    account = "${google_service_account.flink.email}"
    bucket_access = identity["google_storage_bucket_iam_member", "flink_objects"]
    assert bucket_access["role"] == "roles/storage.objectUser"  # objects only, not the bucket's IAM
    assert bucket_access["member"] == f"serviceAccount:{account}"
    assert identity["google_storage_hmac_key", "flink"]["service_account_email"] == account
    binding = identity["google_service_account_iam_member", "workload_identity"]
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["member"].endswith("[${var.kubernetes_namespace}/${var.kubernetes_service_account}]")
    call = blocks(ROOT_MODULE, "module")["flink_identity"]
    assert expression(call["kubernetes_service_account"]) == "var.flink_kubernetes_service_account"
    assert expression(call["kubernetes_namespace"]) == "var.kubernetes_namespace"
    annotation = one(prod, "ServiceAccount", "streamflow-flink")["metadata"]["annotations"][
        WORKLOAD_IDENTITY_ANNOTATION
    ]
    local_part, _, domain = annotation.partition("@")
    assert local_part == blocks(TERRAFORM_DIR / "modules" / "flink_identity", "variable")["account_id"]["default"]
    assert domain.endswith(".iam.gserviceaccount.com")
    node_config = resources(TERRAFORM_DIR / "modules" / "node_pool")["google_container_node_pool", "streamflow"]
    assert block(node_config, "node_config", "workload_metadata_config")["mode"] == "GKE_METADATA"


def test_the_card_pseudonym_key_is_32_random_bytes_kept_for_good() -> None:
    key = resources(ROOT_MODULE)["random_id", "card_pseudonym_key"]
    assert key["byte_length"] == 32  # the key streamflow.core accepts: at least 32 bytes, 64 hex digits
    assert block(key, "lifecycle")["prevent_destroy"] is True
    value = blocks(ROOT_MODULE, "module")["secrets"]["secret_values"]["streamflow-card-pseudonym"]["key"]
    assert expression(value) == "random_id.card_pseudonym_key.hex"


def test_stateful_resources_cannot_be_destroyed_by_a_plan() -> None:
    guarded = {
        ("object_storage", "google_storage_bucket", "checkpoints"),
        ("gold_database", "google_sql_database_instance", "gold"),
    }
    for module, kind, name in guarded:
        body = resources(TERRAFORM_DIR / "modules" / module)[kind, name]
        assert block(body, "lifecycle")["prevent_destroy"] is True, (module, kind, name)
    database = resources(TERRAFORM_DIR / "modules" / "gold_database")["google_sql_database_instance", "gold"]
    assert database["deletion_protection"] is True
    assert block(database, "settings", "ip_configuration")["ipv4_enabled"] is False  # private IP only
