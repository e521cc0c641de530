"""Fixtures of the Kubernetes tests: kubectl and the built overlays, once per session."""

from __future__ import annotations

import pytest

from tests.k8s.manifests import (
    MIN_KUSTOMIZE_MAJOR,
    OVERLAYS,
    Manifest,
    ToolMissingError,
    build_overlay,
    find_kubectl,
    kustomize_version,
)


@pytest.fixture(scope="session")
def kubectl() -> str:
    """The kubectl that builds the overlays; fails (never skips) when there is none."""
    try:
        found = find_kubectl()
        version = kustomize_version(found)
    except ToolMissingError as error:
        pytest.fail(str(error))
    major = int(version.lstrip("v").split(".", 1)[0])
    if major < MIN_KUSTOMIZE_MAJOR:
        pytest.fail(f"{found} has kustomize {version}; the overlays need v{MIN_KUSTOMIZE_MAJOR} or newer")
    return found


@pytest.fixture(scope="session")
def overlays(kubectl: str) -> dict[str, list[Manifest]]:
    """Every overlay, built."""
    return {name: build_overlay(kubectl, name) for name in OVERLAYS}


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest, overlays: dict[str, list[Manifest]]) -> tuple[str, list[Manifest]]:
    """One overlay's name and objects (the test runs once per overlay)."""
    name = str(request.param)
    return name, overlays[name]
