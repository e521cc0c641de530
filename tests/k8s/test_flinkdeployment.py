"""The FlinkDeployment: valid for the operator's CRD, and in step with the job, its config and the lock."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import jsonschema
import pytest
from flink_app.config import flink_settings, load_config

from tests.k8s.lock import read_lock
from tests.k8s.manifests import (
    REPO_ROOT,
    Manifest,
    container_env,
    crd_schema,
    crds_dir,
    one,
    pod_environment,
    schema_errors,
    structural,
)

# <app version>-flink<Flink version>-<model version>; the model bundle is baked into the image.
IMAGE_TAG = re.compile(r"(?P<app>\d+\.\d+\.\d+)-flink(?P<flink>\d+\.\d+\.\d+)-(?P<model>iforest-[0-9a-f]{12})")
JOB_ENV_VARS = ("KAFKA_BOOTSTRAP_SERVERS", "STREAMFLOW_MODEL_BUNDLE", "STREAMFLOW_CHECKPOINT_DIR")
MAIN_CONTAINER = "flink-main-container"


@pytest.fixture(scope="module")
def flink_schema() -> dict[str, Any]:
    """The FlinkDeployment v1beta1 schema from ../shared/crds, made to reject unknown fields."""
    try:
        folder = crds_dir()
    except FileNotFoundError as error:
        pytest.fail(str(error))
    return dict(structural(crd_schema(folder, "FlinkDeployment", "v1beta1")))


def _flink(manifests: list[Manifest]) -> Manifest:
    return one(manifests, "FlinkDeployment", "streamflow-scoring")


def _pinned_pyflink() -> str:
    return read_lock()["apache-flink"].version


def test_flinkdeployment_validates_against_the_operator_crd(
    overlay: tuple[str, list[Manifest]], flink_schema: dict[str, Any]
) -> None:
    name, manifests = overlay
    assert [f"{name}: {error}" for error in schema_errors(flink_schema, _flink(manifests))] == []


def test_crd_validation_rejects_a_misspelt_field_and_a_bad_enum(
    overlays: dict[str, list[Manifest]], flink_schema: dict[str, Any]
) -> None:
    validator = jsonschema.Draft7Validator(flink_schema)
    misspelt = _flink(overlays["prod"]) | {}
    misspelt["spec"] = misspelt["spec"] | {"taskManger": {"replicas": 1}}
    assert any("taskManger" in e.message for e in validator.iter_errors(misspelt))
    bad_mode = _flink(overlays["prod"]) | {}
    bad_mode["spec"] = bad_mode["spec"] | {"job": bad_mode["spec"]["job"] | {"upgradeMode": "rolling"}}
    assert list(validator.iter_errors(bad_mode))


def test_flink_version_image_tag_and_pinned_pyflink_agree(overlay: tuple[str, list[Manifest]]) -> None:
    name, manifests = overlay
    spec = _flink(manifests)["spec"]
    pyflink = _pinned_pyflink()
    major, minor, _ = pyflink.split(".")
    assert spec["flinkVersion"] == f"v{major}_{minor}", f"{name}: flinkVersion does not match PyFlink {pyflink}"
    image, _, tag = spec["image"].rpartition(":")
    assert image.endswith("streamflow-flink"), spec["image"]
    match = IMAGE_TAG.fullmatch(tag)
    assert match, f"{name}: image tag {tag!r} is not <app>-flink<version>-<model version>"
    assert match["flink"] == pyflink
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert match["app"] == project["version"]
    assert spec["job"]["jarURI"] == f"local:///opt/flink/opt/flink-python-{pyflink}.jar"


def test_the_crd_offers_the_flink_version_we_pin(flink_schema: dict[str, Any]) -> None:
    major, minor, _ = _pinned_pyflink().split(".")
    offered = flink_schema["properties"]["spec"]["properties"]["flinkVersion"]["enum"]
    assert f"v{major}_{minor}" in offered


def test_the_dockerfile_builds_from_the_pinned_flink_version() -> None:
    dockerfile = (REPO_ROOT / "flink_app" / "Dockerfile").read_text(encoding="utf-8")
    assert f"ARG FLINK_VERSION={_pinned_pyflink()}\n" in dockerfile
    assert "FROM flink:${FLINK_VERSION}-scala_2.12-java17 AS flink\n" in dockerfile
    assert dockerfile.rsplit("\nFROM ", 1)[1].startswith("flink\n")  # the image is built on that stage


def test_the_job_runs_the_pyflink_driver_on_the_prod_config(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    job = _flink(manifests)["spec"]["job"]
    assert job["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    args = job["args"]
    assert args[args.index("-pym") + 1 :] == ["flink_app", "score", "--env", "prod"]
    assert job["upgradeMode"] in ("savepoint", "last-state")
    config = _flink(manifests)["spec"]["flinkConfiguration"]
    assert args[args.index("-pyclientexec") + 1] == config["python.client.executable"] == config["python.executable"]


def test_flink_configuration_matches_the_job_config(
    overlay: tuple[str, list[Manifest]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keys the job sets equal the manifest's, with conf/prod resolved in the pods' environment."""
    name, manifests = overlay
    spec = _flink(manifests)["spec"]
    env = container_env(spec["podTemplate"]["spec"], MAIN_CONTAINER)
    for variable in JOB_ENV_VARS:
        assert isinstance(env.get(variable), str), f"{name}: {variable} is not set to a literal value"
    for variable, value in pod_environment(spec["podTemplate"]["spec"], MAIN_CONTAINER).items():
        monkeypatch.setenv(variable, value)
    job = load_config(env="prod").job
    expected = flink_settings(job)
    assert {key: str(spec["flinkConfiguration"].get(key)) for key in expected} == expected
    assert spec["job"]["parallelism"] == job.parallelism
    assert env["STREAMFLOW_MODEL_BUNDLE"] == job.model.path
    assert job.state_backend == "rocksdb"
    assert job.checkpoint.mode == "EXACTLY_ONCE"


def test_savepoints_and_checkpoints_share_durable_storage(overlay: tuple[str, list[Manifest]]) -> None:
    name, manifests = overlay
    config = _flink(manifests)["spec"]["flinkConfiguration"]
    locations = [config[key] for key in ("execution.checkpointing.dir", "execution.checkpointing.savepoint-dir")]
    locations.append(config["high-availability.storageDir"])
    schemes = {location.split("://", 1)[0] for location in locations}
    assert len(schemes) == 1, f"{name}: {locations}"
    assert schemes <= {"s3", "file"}, f"{name}: {locations}"
    if schemes == {"file"}:
        mounts = one(manifests, "FlinkDeployment")["spec"]["podTemplate"]["spec"]["containers"][0]["volumeMounts"]
        mounted = [m["mountPath"] for m in mounts]
        assert all(any(loc.removeprefix("file://").startswith(path + "/") for path in mounted) for loc in locations)


def test_the_prometheus_reporter_is_on_and_scraped(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    spec = _flink(manifests)["spec"]
    config = spec["flinkConfiguration"]
    assert config["metrics.reporter.prom.factory.class"].endswith("PrometheusReporterFactory")
    ports = spec["podTemplate"]["spec"]["containers"][0]["ports"]
    assert {"name": "metrics", "containerPort": int(config["metrics.reporter.prom.port"]), "protocol": "TCP"} in ports
    monitor = one(manifests, "PodMonitor", "streamflow-scoring")["spec"]
    assert monitor["selector"]["matchLabels"] == {"app": "streamflow-scoring"}
    assert monitor["podMetricsEndpoints"][0]["port"] == "metrics"
