"""Kafka security: TLS and authentication on every listener, the job's KafkaUser with exactly its ACLs,
and a client that authenticates with credentials it reads by Secret reference only."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from flink_app.config import KafkaSettings, load_config
from kedro.config import OmegaConfigLoader

from streamflow.datasets.kafka_topic import client_settings
from tests.k8s.manifests import (
    REPO_ROOT,
    Manifest,
    crd_schema,
    crds_dir,
    one,
    pod_environment,
    pod_specs,
    schema_errors,
    secret_placeholder,
    structural,
)

CLUSTER = "streamflow"
JOB_USER = "streamflow-scoring"
BATCH_USER = "streamflow-batch"
BATCH_CRONJOB = "streamflow-medallion"
BATCH_CONTAINER = "kedro"
MAIN_CONTAINER = "flink-main-container"
# The TLS listener's port: the local cluster's (components/kafka-cluster) and the platform's (k8s/README.md).
TLS_PORT = 9093
# Listener authentication -> the client's SASL mechanism (None: mutual TLS, no SASL).
MECHANISMS: dict[str, str | None] = {"scram-sha-512": "SCRAM-SHA-512", "tls": None}
# flink-sql-connector-kafka relocates Kafka's classes, so the JAAS login module has the shaded name.
JAAS_CONFIG = re.compile(
    r"org\.apache\.flink\.kafka\.shaded\.org\.apache\.kafka\.common\.security\.scram\.ScramLoginModule"
    r' required username="(?P<username>[^"]+)" password="(?P<password>[^"]+)";'
)
STREAM_CONFIGS = (REPO_ROOT / "conf" / "base" / "stream.yml", REPO_ROOT / "conf" / "prod" / "stream.yml")


@pytest.fixture(scope="module")
def strimzi_schema() -> Any:
    """The schema of a ``kafka.strimzi.io`` kind at a version, from ../shared/crds, rejecting unknown fields."""
    try:
        folder = crds_dir()
    except FileNotFoundError as error:
        pytest.fail(str(error))
    cache: dict[tuple[str, str], dict[str, Any]] = {}

    def schema(kind: str, version: str) -> dict[str, Any]:
        if (kind, version) not in cache:
            cache[kind, version] = dict(structural(crd_schema(folder, kind, version)))
        return cache[kind, version]

    return schema


def _strimzi(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["apiVersion"].split("/")[0] == "kafka.strimzi.io"]


def _pod_spec(manifests: list[Manifest]) -> dict[str, Any]:
    return dict(one(manifests, "FlinkDeployment", "streamflow-scoring")["spec"]["podTemplate"]["spec"])


def _job_kafka(manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch) -> KafkaSettings:
    """``stream.kafka`` of conf/prod resolved in the Flink pods' environment (Secrets as placeholders)."""
    for variable, value in pod_environment(_pod_spec(manifests), MAIN_CONTAINER).items():
        monkeypatch.setenv(variable, value)
    return load_config(env="prod").job.kafka


def _acls(user: Manifest) -> set[tuple[str, str, str, str]]:
    """The user's allow ACLs as (resource type, name, pattern type, operation), one per operation."""
    found = set()
    for acl in user["spec"]["authorization"]["acls"]:
        assert acl.get("type", "allow") == "allow", acl
        assert acl.get("host", "*") == "*", acl
        resource = acl["resource"]
        for operation in acl["operations"]:
            found.add((resource["type"], resource["name"], resource.get("patternType", "literal"), operation))
    return found


def _expected_acls(kafka: KafkaSettings) -> set[tuple[str, str, str, str]]:
    """What the job does: reads its input in its group, writes its outputs in its own transactions."""
    outputs = dict(kafka.topics)
    source = outputs.pop("transactions")
    reads = {("topic", source, "literal", op) for op in ("Describe", "Read")}
    writes = {("topic", name, "literal", op) for name in outputs.values() for op in ("Describe", "Write")}
    group = {("group", kafka.group_id, "literal", "Read")}
    transactions = {("transactionalId", kafka.transactional_id_prefix, "prefix", op) for op in ("Describe", "Write")}
    return reads | writes | group | transactions


def test_strimzi_objects_validate_against_their_crds(overlay: tuple[str, list[Manifest]], strimzi_schema: Any) -> None:
    name, manifests = overlay
    objects = _strimzi(manifests)
    assert {m["kind"] for m in objects} >= {"KafkaTopic", "KafkaUser"}
    errors = []
    for manifest in objects:
        schema = strimzi_schema(manifest["kind"], manifest["apiVersion"].split("/")[1])
        label = f"{name}: {manifest['kind']}/{manifest['metadata']['name']}"
        errors.extend(f"{label}: {error}" for error in schema_errors(schema, manifest))
    assert errors == []


def test_strimzi_validation_rejects_a_bad_authentication_and_a_misspelt_acl(
    overlays: dict[str, list[Manifest]], strimzi_schema: Any
) -> None:
    kafka = copy.deepcopy(one(overlays["local"], "Kafka", CLUSTER))
    kafka["spec"]["kafka"]["listeners"][0]["authentication"] = {"type": "plain"}
    assert any("authentication.type" in error for error in schema_errors(strimzi_schema("Kafka", "v1"), kafka))
    user = copy.deepcopy(one(overlays["prod"], "KafkaUser", JOB_USER))
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Reed"]
    assert schema_errors(strimzi_schema("KafkaUser", "v1"), user)


def test_every_kafka_listener_is_tls_with_authentication_and_acls(overlays: dict[str, list[Manifest]]) -> None:
    """The local cluster (production's is the platform's, with the same listener: k8s/README.md)."""
    kafka = one(overlays["local"], "Kafka", CLUSTER)["spec"]
    listeners = kafka["kafka"]["listeners"]
    assert listeners
    for listener in listeners:
        assert listener["tls"] is True, f"listener {listener['name']} is plain"
        assert listener.get("authentication", {}).get("type") in MECHANISMS, f"listener {listener['name']}"
    assert [listener["port"] for listener in listeners] == [TLS_PORT]
    assert kafka["kafka"]["authorization"]["type"] == "simple"
    assert "userOperator" in kafka["entityOperator"]  # it turns KafkaUsers into credentials and ACLs


def test_the_job_reaches_the_strimzi_bootstrap_service_on_the_tls_listener(
    overlay: tuple[str, list[Manifest]],
) -> None:
    name, manifests = overlay
    clusters = {m["metadata"]["labels"]["strimzi.io/cluster"] for m in _strimzi(manifests) if m["kind"] != "Kafka"}
    assert clusters == {CLUSTER}
    environment = pod_environment(_pod_spec(manifests), MAIN_CONTAINER)
    assert environment["KAFKA_BOOTSTRAP_SERVERS"] == f"{CLUSTER}-kafka-bootstrap:{TLS_PORT}", name
    if name == "local":
        assert one(manifests, "Kafka", CLUSTER)


def test_the_job_user_has_exactly_the_acls_of_its_topics_group_and_transactions(
    overlay: tuple[str, list[Manifest]], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, manifests = overlay
    user = one(manifests, "KafkaUser", JOB_USER)
    assert user["metadata"]["labels"]["strimzi.io/cluster"] == CLUSTER
    assert user["spec"]["authentication"]["type"] in MECHANISMS
    assert user["spec"]["authorization"]["type"] == "simple"
    assert _acls(user) == _expected_acls(_job_kafka(manifests, monkeypatch)), name


def test_the_job_authenticates_over_tls_with_its_user_and_a_password_by_secret_reference(
    overlay: tuple[str, list[Manifest]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client properties resolved in the pods' environment: TLS to the cluster CA, SASL as the job's
    KafkaUser, the password from the Secret the User Operator generates (never a literal)."""
    name, manifests = overlay
    user = one(manifests, "KafkaUser", JOB_USER)
    properties = dict(_job_kafka(manifests, monkeypatch).properties)
    assert properties["security.protocol"] == "SASL_SSL", name
    assert properties["sasl.mechanism"] == MECHANISMS[user["spec"]["authentication"]["type"]]
    credentials = JAAS_CONFIG.fullmatch(properties["sasl.jaas.config"])
    assert credentials, f"{name}: sasl.jaas.config is not the shaded ScramLoginModule with username and password"
    assert credentials["username"] == user["metadata"]["name"]
    assert credentials["password"] == secret_placeholder(user["metadata"]["name"], "password")
    assert properties["ssl.truststore.type"] == "PEM"
    assert properties["ssl.truststore.location"] == _mounted_cluster_ca(_pod_spec(manifests))
    assert properties.get("ssl.endpoint.identification.algorithm", "https") == "https"  # hostname verification on


def _mounted_cluster_ca(pod_spec: dict[str, Any], container_name: str = MAIN_CONTAINER) -> str:
    """The path of ``ca.crt`` of Strimzi's ``<cluster>-cluster-ca-cert`` Secret in one container."""
    volumes = {
        volume["name"]: volume["secret"]
        for volume in pod_spec.get("volumes", [])
        if volume.get("secret", {}).get("secretName") == f"{CLUSTER}-cluster-ca-cert"
    }
    [container] = [c for c in pod_spec["containers"] if c["name"] == container_name]
    paths = [
        str(Path(mount["mountPath"]) / item["path"])
        for mount in container.get("volumeMounts", [])
        if mount["name"] in volumes
        for item in volumes[mount["name"]].get("items", [])
        if item["key"] == "ca.crt"
    ]
    assert len(paths) == 1, f"expected the cluster CA's ca.crt mounted once, found {paths}"
    return paths[0]


def _batch_pod_spec(manifests: list[Manifest]) -> dict[str, Any]:
    [(_, spec)] = pod_specs(one(manifests, "CronJob", BATCH_CRONJOB))
    return spec


def _batch_kafka(manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The batch side's Kafka client (credentials stream_kafka of conf/prod) in the CronJob's environment."""
    for variable, value in pod_environment(_batch_pod_spec(manifests), BATCH_CONTAINER).items():
        monkeypatch.setenv(variable, value)
    loader = OmegaConfigLoader(str(REPO_ROOT / "conf"), base_env="base", default_run_env="prod")
    return client_settings(loader["credentials"]["stream_kafka"])


def _topics_the_batch_side_reads() -> set[str]:
    catalog = yaml.safe_load((REPO_ROOT / "conf" / "prod" / "catalog_stream.yml").read_text(encoding="utf-8"))
    return {entry["topic"] for entry in catalog.values() if entry["type"].endswith("KafkaTopicDataset")}


def test_the_batch_user_only_reads_the_topics_of_the_production_catalog(
    overlay: tuple[str, list[Manifest]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gold's alerts and the DLQ monitor's inputs: Describe and Read on exactly those topics, no group
    (positions are assigned, offsets kept in gold), and the job writes each of them."""
    name, manifests = overlay
    user = one(manifests, "KafkaUser", BATCH_USER)
    topics = _topics_the_batch_side_reads()
    assert _acls(user) == {("topic", topic, "literal", op) for topic in topics for op in ("Describe", "Read")}, name
    assert topics <= set(_job_kafka(manifests, monkeypatch).topics.values())


def test_the_batch_side_authenticates_over_tls_with_its_user_and_a_password_by_secret_reference(
    overlay: tuple[str, list[Manifest]], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, manifests = overlay
    user = one(manifests, "KafkaUser", BATCH_USER)
    client = _batch_kafka(manifests, monkeypatch)
    assert client["bootstrap.servers"] == f"{CLUSTER}-kafka-bootstrap:{TLS_PORT}", name
    assert client["security.protocol"] == "SASL_SSL"
    assert client["sasl.mechanisms"] == MECHANISMS[user["spec"]["authentication"]["type"]]
    assert client["sasl.username"] == BATCH_USER
    assert client["sasl.password"] == secret_placeholder(BATCH_USER, "password")
    assert client["ssl.ca.location"] == _mounted_cluster_ca(_batch_pod_spec(manifests), BATCH_CONTAINER)


def test_no_kafka_credential_is_written_in_the_config() -> None:
    """Every password in the stream config is an ${oc.env:...} of the pod environment."""
    for path in STREAM_CONFIGS:
        text = path.read_text(encoding="utf-8")
        for value in re.findall(r'password\s*=\s*"([^"]*)"', text):
            assert re.fullmatch(r"\$\{oc\.env:[A-Z_]+\}", value), f"{path.name}: password={value!r}"
        assert not re.search(r"^\s*(ssl\.\S*password|sasl\.password)\s*:", text, re.MULTILINE), path.name
