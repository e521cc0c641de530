"""The deploy script: without a cluster it validates and stops (said, nothing applied); with one (a fake
kubectl answering as an API server, Argo CD and the Flink operator would) it dry-runs on the server,
applies or syncs, and passes only when the FlinkDeployment is stable with its job running."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tools.delivery import deploy
from tools.delivery.deploy import DeployError, Kubectl, Verdict

from tests.conftest import REPO_ROOT
from tests.k8s.manifests import find_kubectl

DIGEST = "registry.example.com/streamflow/streamflow-flink@sha256:" + "ab" * 32

FAKE_KUBECTL = """\
#!{python}
# A stand-in for kubectl against a cluster: kustomize is the real one; the API server, Argo CD and
# the Flink operator answer from FAKE_* settings; every call is logged as one JSON line.
import json, os, subprocess, sys

args = sys.argv[1:]
stdin = sys.stdin.read() if "-f" in args and "-" in args else ""
with open(os.environ["FAKE_KUBECTL_LOG"], "a") as log:
    log.write(json.dumps({{"args": args, "stdin": stdin}}) + "\\n")
if args[0] == "kustomize":
    sys.exit(subprocess.run([os.environ["REAL_KUBECTL"], *args]).returncode)
if args[0] == "version":
    print(json.dumps({{"serverVersion": {{"gitVersion": "v1.37.0"}}}}))
elif args[0] == "apply":
    if os.environ.get("FAKE_REFUSE") and "--dry-run=server" in args:
        print("admission webhook denied the request", file=sys.stderr)
        sys.exit(1)
elif args[0] == "get" and args[1] == "application":
    print(json.dumps({{"status": {{"sync": {{"status": "Synced"}}, "health": {{"status": "Healthy"}}}}}}))
elif args[0] == "get" and args[1] == "flinkdeployment":
    state = os.environ.get("FAKE_JOB_STATE", "RUNNING")
    lifecycle = "FAILED" if state == "FAILED" else "STABLE"
    spec = {{"image": os.environ.get("FAKE_IMAGE", "")}}
    status = {{"lifecycleState": lifecycle, "jobStatus": {{"state": state}}, "error": "boom"}}
    print(json.dumps({{"spec": spec, "status": status}}))
"""


@pytest.fixture
def fake_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Kubectl, Path]:
    """A kubectl that answers as a healthy cluster would, and the log of its calls."""
    script = tmp_path / "kubectl"
    script.write_text(FAKE_KUBECTL.format(python=sys.executable))
    script.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_KUBECTL_LOG", str(log))
    monkeypatch.setenv("REAL_KUBECTL", find_kubectl())
    return Kubectl(str(script)), log


def _calls(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _no_cluster_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose kubectl has no cluster: an empty kubeconfig (kubectl then tries localhost:8080)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("")
    return {**os.environ, "KUBECONFIG": str(kubeconfig)}


def test_without_a_cluster_make_deploy_validates_then_stops_and_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            shutil.which("make") or "make",
            "--no-print-directory",
            "-C",
            str(REPO_ROOT),
            "deploy",
            "ENV=prod",
            "MODE=argocd",
        ],
        capture_output=True,
        text=True,
        env=_no_cluster_env(tmp_path),
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("rendered k8s/overlays/prod:") for line in lines)
    assert any(line.startswith("client-side validation passed:") for line in lines)
    assert any("no cluster reachable" in line and "nothing was applied or synced" in line for line in lines)
    assert not any("applied" in line and "nothing" not in line for line in lines)


def test_without_a_cluster_ci_fails_when_it_requires_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", _no_cluster_env(tmp_path)["KUBECONFIG"])
    code = deploy.main(["--env", "prod", "--mode", "kubectl", "--require-cluster"])
    assert code == deploy.EXIT_NO_CLUSTER


def test_an_invalid_object_stops_the_deploy_before_anything_is_applied(
    fake_kubectl: tuple[Kubectl, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubectl, _ = fake_kubectl
    objects = deploy.render(kubectl, "prod")
    flink = next(o for o in objects if o["kind"] == "FlinkDeployment")
    flink["spec"]["taskManger"] = {"replicas": 1}
    pdb = next(o for o in objects if o["kind"] == "PodDisruptionBudget")
    pdb["spec"]["maxUnavailabel"] = 1
    problems = deploy.validate_offline(objects)
    assert any("FlinkDeployment/streamflow-scoring" in problem and "taskManger" in problem for problem in problems)
    assert any("PodDisruptionBudget" in problem for problem in problems)
    monkeypatch.setattr(deploy, "render", lambda *_, **__: objects)
    monkeypatch.setattr(deploy, "cluster_reachable", lambda _: (False, "none"))
    with pytest.raises(DeployError, match="client-side validation failed"):
        deploy.deploy(kubectl, "prod", "kubectl", say=lambda _: None)


def test_kubectl_mode_dry_runs_on_the_server_then_applies_then_runs_the_smoke_test(
    fake_kubectl: tuple[Kubectl, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    kubectl, log = fake_kubectl
    monkeypatch.setenv("FAKE_IMAGE", DIGEST)
    said: list[str] = []
    code = deploy.deploy(kubectl, "prod", "kubectl", image=DIGEST, say=said.append)
    assert code == deploy.EXIT_OK
    steps = [call["args"] for call in _calls(log)]
    assert [step[0] for step in steps] == ["kustomize", "version", "apply", "apply", "get"]
    dry_run, real = steps[2], steps[3]
    assert "--dry-run=server" in dry_run
    assert "--server-side" in real
    assert "--dry-run=server" not in real
    applied = _calls(log)[3]["stdin"]
    assert f"image: {DIGEST}" in str(applied)  # the image by digest, not the overlay's tag
    assert steps[4][:2] == ["get", "flinkdeployment"]
    assert said[-1] == "smoke test passed: FlinkDeployment streamflow-scoring: lifecycle STABLE, job RUNNING"


def test_argocd_mode_applies_the_application_with_the_image_and_waits_for_the_sync(
    fake_kubectl: tuple[Kubectl, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    kubectl, log = fake_kubectl
    monkeypatch.setenv("FAKE_IMAGE", DIGEST)
    assert deploy.deploy(kubectl, "prod", "argocd", image=DIGEST, say=lambda _: None) == deploy.EXIT_OK
    calls = _calls(log)
    applies = [call for call in calls if call["args"][0] == "apply"]
    assert len(applies) == 2  # the dry run of overlay and Application, then the Application alone
    assert "kind: Application" in str(applies[1]["stdin"])
    assert "kind: FlinkDeployment" not in str(applies[1]["stdin"])  # Argo CD applies the overlay, not us
    assert f"streamflow-flink={DIGEST}" in str(applies[1]["stdin"])
    gets = [call["args"][1] for call in calls if call["args"][0] == "get"]
    assert gets == ["application", "flinkdeployment"]


def test_a_refused_server_side_dry_run_applies_nothing(
    fake_kubectl: tuple[Kubectl, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    kubectl, log = fake_kubectl
    monkeypatch.setenv("FAKE_REFUSE", "1")
    with pytest.raises(DeployError, match="server-side dry run refused"):
        deploy.deploy(kubectl, "prod", "kubectl", say=lambda _: None)
    assert [call["args"][0] for call in _calls(log)] == ["kustomize", "version", "apply"]


def test_a_failed_job_fails_the_smoke_test(fake_kubectl: tuple[Kubectl, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    kubectl, _ = fake_kubectl
    monkeypatch.setenv("FAKE_JOB_STATE", "FAILED")
    with pytest.raises(DeployError, match="lifecycle FAILED, job FAILED: boom") as raised:
        deploy.deploy(kubectl, "prod", "kubectl", say=lambda _: None)
    assert raised.value.exit_code == deploy.EXIT_SMOKE_FAILED


def test_the_smoke_test_times_out_while_the_job_is_not_running(fake_kubectl: tuple[Kubectl, Path]) -> None:
    kubectl, _ = fake_kubectl
    ticks = iter([0.0, 10.0, 20.0, 30.0])
    waiting = lambda _: Verdict(False, False, "lifecycle DEPLOYED, job RECONCILING")  # noqa: E731
    with pytest.raises(DeployError, match=r"not ready after 25 s \(lifecycle DEPLOYED, job RECONCILING\)"):
        deploy.wait_for(
            kubectl, ["flinkdeployment", "x"], waiting, timeout_s=25, clock=lambda: next(ticks), sleep=lambda _: None
        )


@pytest.mark.parametrize(
    ("status", "image", "expected"),
    [
        ({"lifecycleState": "STABLE", "jobStatus": {"state": "RUNNING"}}, None, (True, False)),
        ({"lifecycleState": "DEPLOYED", "jobStatus": {"state": "RUNNING"}}, None, (False, False)),
        ({"lifecycleState": "STABLE", "jobStatus": {"state": "CANCELED"}}, None, (False, True)),
        ({"lifecycleState": "ROLLED_BACK", "jobStatus": {"state": "RUNNING"}}, None, (False, True)),
        ({"lifecycleState": "STABLE", "jobStatus": {"state": "FINISHED"}}, None, (False, True)),
        ({"lifecycleState": "STABLE", "jobStatus": {"state": "RUNNING"}}, DIGEST, (False, False)),  # old image
        ({}, None, (False, False)),
    ],
)
def test_the_flink_verdict(status: dict[str, object], image: str | None, expected: tuple[bool, bool]) -> None:
    found = deploy.flink_verdict({"spec": {"image": "old:1"}, "status": status}, image=image)
    assert (found.done, found.failed) == expected


def test_the_application_verdict() -> None:
    synced = {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}
    assert deploy.application_verdict({"status": synced}).done
    assert not deploy.application_verdict({"status": {"sync": {"status": "OutOfSync"}}}).done
    failed = {"operationState": {"phase": "Failed", "message": "one or more objects failed to apply"}}
    assert deploy.application_verdict({"status": failed}).failed


@pytest.mark.parametrize("image", ["streamflow-flink:0.1.0", "registry/x@sha256:abc", "x@sha256:" + "AB" * 32])
def test_images_are_deployed_by_digest_only(image: str) -> None:
    with pytest.raises(DeployError, match="by digest"):
        deploy.check_image(image)


def test_the_mode_and_environment_are_checked(fake_kubectl: tuple[Kubectl, Path]) -> None:
    kubectl, _ = fake_kubectl
    with pytest.raises(DeployError, match="MODE one of"):
        deploy.deploy(kubectl, "prod", "helm", say=lambda _: None)


def test_the_makefile_passes_env_mode_and_image_to_the_script() -> None:
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-n",
            "-C",
            str(REPO_ROOT),
            "deploy",
            "ENV=local",
            "MODE=argocd",
            f"IMAGE={DIGEST}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"-m tools.delivery.deploy --env local --mode argocd --image {DIGEST}" in textwrap.dedent(result.stdout)
