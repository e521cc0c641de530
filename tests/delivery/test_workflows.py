"""The GitHub Actions workflows: actionlint finds nothing, and every step runs Makefile targets (one
source of truth with `make test` and .ci/run), covering each check the CI must run."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
ACTIONLINT = REPO_ROOT / ".tools" / "actionlint" / "bin" / "actionlint"
SHELLCHECK = REPO_ROOT / ".venv" / "bin" / "shellcheck"
MAKE_TARGETS = re.compile(r"^([a-z][a-z-]*):", re.MULTILINE)
# What a CI run must check (issue 24), as the make targets that do it.
CI_CHECKS = {"lint", "typecheck", "workflows", "coverage", "security", "manifests", "infra", "dags-check", "image"}
# Shell that only prepares a step (credentials) and runs no check itself.
PLUMBING = (re.compile(r"^printf '%s' \"\$\w+\" (\| docker login|> )"),)


def _workflow(name: str) -> dict[Any, Any]:
    return dict(yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8")))


def _run_steps(workflow: dict[Any, Any]) -> dict[str, list[str]]:
    """Job name -> the shell of its ``run`` steps, in order."""
    return {name: [step["run"] for step in job["steps"] if "run" in step] for name, job in workflow["jobs"].items()}


def make_targets(command: str) -> list[str] | None:
    """The targets a ``make ...`` command runs (VAR=value arguments aside); None if it is not ``make``."""
    first = command.split("&&")[0].strip().split()
    if not first or first[0] != "make":
        return None
    return [word for word in first[1:] if "=" not in word and not word.startswith("-")]


def _declared_targets() -> set[str]:
    return set(MAKE_TARGETS.findall((REPO_ROOT / "Makefile").read_text(encoding="utf-8")))


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    assert ACTIONLINT.is_file(), "actionlint is missing: make workflows builds it (Go)"
    result = subprocess.run(
        [
            str(ACTIONLINT),
            "-no-color",
            "-shellcheck",
            str(SHELLCHECK),
            "-pyflakes=",
            *sorted(map(str, WORKFLOWS.glob("*.yml"))),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.evnt.ref }}\n"
    )
    result = subprocess.run([str(ACTIONLINT), "-no-color", str(broken)], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "evnt" in result.stdout


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_every_step_runs_make_targets_that_exist(name: str) -> None:
    declared = _declared_targets()
    for job, commands in _run_steps(_workflow(name)).items():
        for command in commands:
            targets = make_targets(command)
            if targets is None:
                assert any(pattern.match(command) for pattern in PLUMBING), (
                    f"{name} {job}: not a make target: {command}"
                )
                continue
            assert targets, f"{name} {job}: {command}"
            assert set(targets) <= declared, f"{name} {job}: unknown targets {set(targets) - declared}"


def test_ci_runs_every_check_the_issue_asks_for() -> None:
    ran = {
        target
        for commands in _run_steps(_workflow("ci.yml")).values()
        for c in commands
        for target in make_targets(c) or []
    }
    assert ran >= CI_CHECKS, f"missing: {sorted(CI_CHECKS - ran)}"


def test_make_test_runs_the_same_checks_as_ci() -> None:
    """.ci/run calls `make test`; its prerequisites are CI's jobs (the image build aside: no Docker engine)."""
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    prerequisites = set(re.search(r"^test: (.*?) ##", makefile, re.MULTILINE)[1].split())  # type: ignore[index]
    assert {"lint", "typecheck", "workflows", "security", "coverage"} <= prerequisites
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_deploy_pushes_by_digest_then_syncs_through_argocd_then_smoke_tests() -> None:
    workflow = _workflow("deploy.yml")
    jobs = workflow["jobs"]
    assert jobs["image"]["needs"] == "validate"
    assert jobs["deploy"]["needs"] == "image"
    assert "make manifests infra" in _run_steps(workflow)["validate"]
    push = [command for command in _run_steps(workflow)["image"] if "image-push" in command]
    assert push
    assert jobs["image"]["outputs"]["ref"] == "${{ steps.push.outputs.ref }}"
    [deploy] = [command for command in _run_steps(workflow)["deploy"] if command.startswith("make deploy")]
    assert "MODE=argocd" in deploy
    assert "REQUIRE_CLUSTER=1" in deploy  # no cluster is a failure there, not a validation-only run
    step_env = next(step["env"] for step in jobs["deploy"]["steps"] if step.get("run") == deploy)
    assert step_env["IMAGE"] == "${{ needs.image.outputs.ref }}"
    assert jobs["deploy"]["environment"] == "prod"


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_workflows_read_only_token_and_no_expression_in_shell(name: str) -> None:
    workflow = _workflow(name)
    assert workflow["permissions"] == {"contents": "read"}
    for commands in _run_steps(workflow).values():
        for command in commands:
            assert "${{" not in command, f"{name}: pass expressions through env, not into the shell: {command}"


def test_make_targets_reads_a_command() -> None:
    assert make_targets("make lint typecheck workflows") == ["lint", "typecheck", "workflows"]
    assert make_targets('make deploy ENV=prod IMAGE="$IMAGE"') == ["deploy"]
    assert make_targets("pytest") is None
    assert shutil.which("make")
