"""Deploy an overlay: render, validate, apply (kubectl) or sync (Argo CD), then the smoke test.

``make deploy ENV=prod MODE=kubectl|argocd`` runs ``python -m tools.delivery.deploy``:

1. render ``k8s/overlays/<env>`` with ``kubectl kustomize`` (the image replaced by ``--image``, a
   reference by digest, when given);
2. validate: with a cluster reachable, a server-side dry run of every object (the API server's own
   schemas, CRDs and admission); with none, the offline validation of tests/k8s (Kubernetes 1.37
   schemas, strict, and each custom object against its CRD in ``shared/crds``). Without a cluster
   the script stops here and says so: nothing is applied;
3. ``kubectl``: server-side apply of the rendered overlay. ``argocd``: apply the overlay's Argo CD
   Application (``k8s/argocd/streamflow-<env>.yaml``, with the image as a kustomize override), ask
   for a refresh, and wait until it is Synced and Healthy;
4. smoke test: the FlinkDeployment's lifecycle STABLE and its job RUNNING, on the image deployed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

# The offline validation is tests/k8s's own (one validator): the same schemas, CRDs and kubectl.
from tests.k8s.manifests import (
    ToolMissingError,
    crd_schema,
    crds_dir,
    find_kubectl,
    is_core,
    schema_errors,
    structural,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("local", "prod")
MODES = ("kubectl", "argocd")
NAMESPACE = "streamflow"
ARGOCD_NAMESPACE = "argocd"
FLINK_DEPLOYMENT = "streamflow-scoring"
FLINK_IMAGE = "streamflow-flink"  # the image name the overlays' kustomize `images` rewrite
KUBERNETES_VERSION = "1.37.0"
FIELD_MANAGER = "streamflow-deploy"
# registry/path/name[:tag]@sha256:<64 hex>: deploys are by digest, never by a mutable tag alone.
IMAGE_BY_DIGEST = re.compile(r"[a-z0-9.\-:/_]+(:[\w.\-]+)?@sha256:[0-9a-f]{64}")
POLL_S = 5.0

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_NO_CLUSTER = 2  # only with --require-cluster
EXIT_SMOKE_FAILED = 3


class DeployError(RuntimeError):
    """A deploy step failed; the message says which and why."""

    def __init__(self, message: str, *, exit_code: int = EXIT_INVALID) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Kubectl:
    """The kubectl the deploy drives: ``$KUBECTL``, else ``kubectl`` on PATH, else the one under ``.tools/``."""

    binary: str

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """``kubectl <args>``, output captured, never raising on a non-zero exit."""
        command = [self.binary, *args]
        return subprocess.run(command, capture_output=True, text=True, input=stdin, check=False)  # nosec B603 - argv, no shell


def render(kubectl: Kubectl, env: str, *, image: str | None = None) -> list[dict[str, Any]]:
    """The overlay's objects, as kustomize builds them, the Flink image replaced by ``image``.

    Raises:
        DeployError: the build fails, or ``image`` is not a reference by digest.

    """
    result = kubectl("kustomize", str(REPO_ROOT / "k8s" / "overlays" / env))
    if result.returncode != 0:
        raise DeployError(f"kustomize build of k8s/overlays/{env} failed:\n{result.stderr}")
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    if image is not None:
        check_image(image)
        flink = [o for o in objects if o["kind"] == "FlinkDeployment" and o["metadata"]["name"] == FLINK_DEPLOYMENT]
        if len(flink) != 1:
            raise DeployError(f"expected one FlinkDeployment {FLINK_DEPLOYMENT} in k8s/overlays/{env}")
        flink[0]["spec"]["image"] = image
    return objects


def check_image(image: str) -> None:
    """Raise ``DeployError`` unless ``image`` names its content by digest (``...@sha256:<64 hex>``)."""
    if not IMAGE_BY_DIGEST.fullmatch(image):
        raise DeployError(f"--image must be a reference by digest (<registry>/<name>@sha256:<64 hex>), got {image!r}")


def cluster_reachable(kubectl: Kubectl) -> tuple[bool, str]:
    """Whether an API server answers (``kubectl version``), and what kubectl said when none does."""
    result = kubectl("version", "--output=json", "--request-timeout=10s")
    if result.returncode == 0:
        try:
            server = json.loads(result.stdout).get("serverVersion")
        except json.JSONDecodeError:
            server = None
        if server:
            return True, f"Kubernetes {server.get('gitVersion', '?')}"
    reason = (result.stderr.strip().splitlines() or ["no server version"])[-1]
    return False, reason


def validate_offline(objects: list[dict[str, Any]]) -> list[str]:
    """The problems tests/k8s would find in ``objects``: Kubernetes schemas (strict) and CRDs; empty when valid."""
    problems: list[str] = []
    folder = crds_dir()
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for manifest in objects:
        label = f"{manifest['kind']}/{manifest['metadata']['name']}"
        if is_core(manifest):
            try:
                kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                problems.append(f"{label} at {'.'.join(map(str, error.path))}: {error.message}")
            continue
        key = (manifest["kind"], manifest["apiVersion"].split("/")[1])
        try:
            if key not in schemas:
                schemas[key] = dict(structural(crd_schema(folder, *key)))
        except LookupError as error:
            problems.append(f"{label}: {error}")
            continue
        problems.extend(f"{label}: {error}" for error in schema_errors(schemas[key], manifest))
    return problems


def application(env: str, *, image: str | None = None) -> dict[str, Any]:
    """The overlay's Argo CD Application, with ``image`` as the Flink image's kustomize override."""
    app: dict[str, Any] = yaml.safe_load((REPO_ROOT / "k8s" / "argocd" / f"streamflow-{env}.yaml").read_text())
    if image is not None:
        check_image(image)
        app["spec"]["source"].setdefault("kustomize", {})["images"] = [f"{FLINK_IMAGE}={image}"]
    return app


def as_yaml(objects: list[dict[str, Any]]) -> str:
    """Objects as one multi-document YAML stream."""
    return yaml.safe_dump_all(objects, sort_keys=False)


def apply(kubectl: Kubectl, objects: list[dict[str, Any]], *, dry_run: bool) -> None:
    """Server-side apply (or its server-side dry run) of ``objects``.

    Raises:
        DeployError: the API server refused any object.

    """
    args = ["apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "--force-conflicts", "-f", "-"]
    if dry_run:
        args.insert(1, "--dry-run=server")
    result = kubectl(*args, stdin=as_yaml(objects))
    if result.returncode != 0:
        step = "server-side dry run" if dry_run else "apply"
        raise DeployError(f"{step} refused:\n{result.stderr.strip()}")


@dataclass(frozen=True)
class Verdict:
    """What one look at a status says: done (passed), failed (with why), or still waiting (with why)."""

    done: bool
    failed: bool
    why: str


def flink_verdict(deployment: dict[str, Any], *, image: str | None) -> Verdict:
    """The smoke test's verdict on one FlinkDeployment as ``kubectl get -o json`` shows it."""
    status = deployment.get("status") or {}
    lifecycle = status.get("lifecycleState")
    job = (status.get("jobStatus") or {}).get("state")
    error = status.get("error")
    if image is not None and deployment.get("spec", {}).get("image") != image:
        return Verdict(False, False, f"spec.image is {deployment.get('spec', {}).get('image')!r}, waiting for {image}")
    # A rolled-back upgrade failed; a streaming job that finishes or is cancelled has stopped scoring.
    if lifecycle in ("FAILED", "ROLLED_BACK") or job in ("FAILED", "CANCELED", "FINISHED"):
        return Verdict(False, True, f"lifecycle {lifecycle}, job {job}: {error or 'no error reported'}")
    if lifecycle == "STABLE" and job == "RUNNING":
        return Verdict(True, False, "lifecycle STABLE, job RUNNING")
    return Verdict(False, False, f"lifecycle {lifecycle}, job {job}")


def application_verdict(app: dict[str, Any]) -> Verdict:
    """Whether an Argo CD Application is Synced and Healthy (a failed sync operation fails)."""
    status = app.get("status") or {}
    sync = (status.get("sync") or {}).get("status")
    health = (status.get("health") or {}).get("status")
    phase = (status.get("operationState") or {}).get("phase")
    if phase in ("Failed", "Error"):
        message = (status.get("operationState") or {}).get("message", "")
        return Verdict(False, True, f"sync {phase}: {message}")
    if sync == "Synced" and health == "Healthy":
        return Verdict(True, False, "Synced, Healthy")
    return Verdict(False, False, f"sync {sync}, health {health}")


def wait_for(
    kubectl: Kubectl,
    resource: list[str],
    verdict: Callable[[dict[str, Any]], Verdict],
    *,
    timeout_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Poll ``kubectl get <resource> -o json`` until ``verdict`` passes; its last word.

    Raises:
        DeployError: the verdict fails, or ``timeout_s`` passes first (exit code EXIT_SMOKE_FAILED).

    """
    deadline = clock() + timeout_s
    why = "not read yet"
    while True:
        result = kubectl("get", *resource, "--output=json")
        if result.returncode == 0:
            found = verdict(json.loads(result.stdout))
            why = found.why
            if found.failed:
                raise DeployError(f"{' '.join(resource)}: {why}", exit_code=EXIT_SMOKE_FAILED)
            if found.done:
                return why
        else:
            why = result.stderr.strip()
        if clock() >= deadline:
            raise DeployError(
                f"{' '.join(resource)}: not ready after {timeout_s:.0f} s ({why})", exit_code=EXIT_SMOKE_FAILED
            )
        sleep(POLL_S)


def deploy(
    kubectl: Kubectl,
    env: str,
    mode: str,
    *,
    image: str | None = None,
    require_cluster: bool = False,
    timeout_s: float = 900.0,
    say: Callable[[str], None] = print,
) -> int:
    """Render, validate, apply or sync, smoke test; the exit code (see the module docstring)."""
    if env not in ENVIRONMENTS or mode not in MODES:
        raise DeployError(f"ENV must be one of {ENVIRONMENTS} and MODE one of {MODES}; got ENV={env} MODE={mode}")
    objects = render(kubectl, env, image=image)
    say(f"rendered k8s/overlays/{env}: {len(objects)} objects")
    app = application(env, image=image) if mode == "argocd" else None
    reachable, detail = cluster_reachable(kubectl)
    if not reachable:
        problems = validate_offline(objects + ([app] if app else []))
        if problems:
            raise DeployError("client-side validation failed:\n  " + "\n  ".join(problems))
        say(
            f"client-side validation passed: {len(objects) + (1 if app else 0)} objects against the Kubernetes "
            f"{KUBERNETES_VERSION} schemas and the CRDs in shared/crds"
        )
        say(f"no cluster reachable ({detail}): stopped after validation; nothing was applied or synced")
        return EXIT_NO_CLUSTER if require_cluster else EXIT_OK
    say(f"cluster reachable: {detail}")
    apply(kubectl, objects + ([app] if app else []), dry_run=True)
    say("server-side dry run passed")
    if app is None:
        apply(kubectl, objects, dry_run=False)
        say(f"applied {len(objects)} objects (server-side apply, field manager {FIELD_MANAGER})")
    else:
        apply(kubectl, [app], dry_run=False)
        name = app["metadata"]["name"]
        kubectl(
            "annotate", "application", name, "-n", ARGOCD_NAMESPACE, "argocd.argoproj.io/refresh=hard", "--overwrite"
        )
        say(f"applied Application {ARGOCD_NAMESPACE}/{name}; waiting for Argo CD to sync")
        word = wait_for(
            kubectl, ["application", name, "-n", ARGOCD_NAMESPACE], application_verdict, timeout_s=timeout_s
        )
        say(f"Application {name}: {word}")
    flink_image = image
    word = wait_for(
        kubectl,
        ["flinkdeployment", FLINK_DEPLOYMENT, "-n", NAMESPACE],
        lambda found: flink_verdict(found, image=flink_image),
        timeout_s=timeout_s,
    )
    say(f"smoke test passed: FlinkDeployment {FLINK_DEPLOYMENT}: {word}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tools.delivery.deploy --env prod --mode kubectl|argocd [--image REF@sha256:...]``."""
    parser = argparse.ArgumentParser(prog="python -m tools.delivery.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, choices=ENVIRONMENTS)
    parser.add_argument("--mode", required=True, choices=MODES)
    parser.add_argument("--image", help="the Flink image by digest (<registry>/<name>@sha256:...) to deploy")
    parser.add_argument("--require-cluster", action="store_true", help="exit 2 when no cluster is reachable (CI)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the sync and the job")
    args = parser.parse_args(argv)
    try:
        kubectl = Kubectl(find_kubectl())
    except ToolMissingError as error:
        print(f"deploy: {error}", file=sys.stderr)
        return EXIT_INVALID
    try:
        return deploy(
            kubectl, args.env, args.mode, image=args.image, require_cluster=args.require_cluster, timeout_s=args.timeout
        )
    except DeployError as error:
        print(f"deploy: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
