"""Kafka topics match the job's config; the batch CronJob and the gold database are wired by reference."""

from __future__ import annotations

import pytest
from flink_app.config import load_config

from tests.k8s.manifests import Manifest, container_env, one, pod_environment, pod_specs

THIRTY_DAYS_MS = 30 * 24 * 3600 * 1000


@pytest.fixture(scope="module")
def topics_in_config(overlays: dict[str, list[Manifest]]) -> dict[str, str]:
    """The topic names the production job reads and writes (conf/base + conf/prod, in the pods' environment)."""
    pod_spec = one(overlays["prod"], "FlinkDeployment")["spec"]["podTemplate"]["spec"]
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in pod_environment(pod_spec, "flink-main-container").items():
            patch.setenv(variable, value)
        return dict(load_config(env="prod").job.kafka.topics)


def _topics(manifests: list[Manifest]) -> dict[str, Manifest]:
    return {m["spec"]["topicName"]: m for m in manifests if m["kind"] == "KafkaTopic"}


def test_every_topic_of_the_job_is_declared_once(
    overlay: tuple[str, list[Manifest]], topics_in_config: dict[str, str]
) -> None:
    _, manifests = overlay
    assert sorted(_topics(manifests)) == sorted(topics_in_config.values())
    assert {m["metadata"]["labels"]["strimzi.io/cluster"] for m in _topics(manifests).values()} == {"streamflow"}


def test_dead_letters_are_kept_thirty_days(
    overlay: tuple[str, list[Manifest]], topics_in_config: dict[str, str]
) -> None:
    _, manifests = overlay
    dlq = _topics(manifests)[topics_in_config["dead_letters"]]
    assert int(dlq["spec"]["config"]["retention.ms"]) == THIRTY_DAYS_MS


def test_topic_replication_fits_each_cluster(overlays: dict[str, list[Manifest]]) -> None:
    for name, expected in (("local", (1, 1)), ("prod", (3, 2))):
        for topic in _topics(overlays[name]).values():
            replicas, min_isr = topic["spec"]["replicas"], int(topic["spec"]["config"]["min.insync.replicas"])
            assert (replicas, min_isr) == expected, f"{name}: {topic['spec']['topicName']}"


def test_batch_cronjob_runs_kedro_prod_with_its_secrets_by_reference(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    cronjob = one(manifests, "CronJob", "streamflow-medallion")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    [(_, spec)] = list(pod_specs(cronjob))
    command = spec["containers"][0]["command"]
    assert command[:2] == ["kedro", "run"]
    assert command[command.index("--env") + 1] == "prod"
    env = container_env(spec, "kedro")
    assert env["STREAMFLOW_GOLD_DB_URL"] == {"secretKeyRef": {"name": "streamflow-gold-db", "key": "url"}}
    key = {"secretKeyRef": {"name": "streamflow-card-pseudonym", "key": "key"}}
    assert env["STREAMFLOW_CARD_PSEUDONYM_KEY"] == key  # conf/prod/credentials.yml reads it


def test_gold_database_is_in_cluster_locally_and_managed_in_prod(overlays: dict[str, list[Manifest]]) -> None:
    local = one(overlays["local"], "StatefulSet", "postgres")["spec"]["template"]["spec"]
    password = container_env(local, "postgres")["POSTGRES_PASSWORD"]
    assert password == {"secretKeyRef": {"name": "streamflow-postgres", "key": "password"}}
    assert not [m for m in overlays["prod"] if m["kind"] == "StatefulSet"]
    assert one(overlays["prod"], "Service", "streamflow-gold-db")["spec"]["type"] == "ExternalName"
