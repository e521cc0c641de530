"""checkov on what ships besides the code, every finding either fixed or waived with a reason.

``make checkov`` runs ``python -m tools.delivery.checkov``: one checkov run (the isolated venv
``.tools/checkov``, installed from ``tools/checkov/requirements.txt`` with hashes) over

- the Kubernetes objects as they are deployed: each overlay rendered by kustomize, and the Argo CD
  Applications (``kubernetes``);
- the Flink image's Dockerfile (``dockerfile``);
- the CI and deploy workflows (``github_actions``);
- the Terraform root and modules (``terraform``).

A failed check passes only when ``tools/checkov/waivers.yaml`` waives it for that resource with a
reason; a waiver that matches no failure any more fails too, so the list stays the true one.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tests.k8s.manifests import OVERLAYS, build_overlay, find_kubectl

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKOV = REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"
WAIVERS = REPO_ROOT / "tools" / "checkov" / "waivers.yaml"
WORK_DIR = REPO_ROOT / ".build" / "delivery" / "checkov"
FRAMEWORKS = ("kubernetes", "dockerfile", "github_actions", "terraform")
MIN_REASON_CHARS = 20


@dataclass(frozen=True)
class Finding:
    """One failed check: its id, the resource it failed on, and the file (relative to what was scanned)."""

    check_id: str
    resource: str
    file: str

    def __str__(self) -> str:
        return f"{self.check_id} {self.resource} ({self.file})"


@dataclass(frozen=True)
class Waiver:
    """A check accepted on the resources matching ``resource`` (an fnmatch pattern), and why."""

    check_id: str
    resource: str
    reason: str

    def covers(self, finding: Finding) -> bool:
        """Whether this waiver accepts ``finding``."""
        return finding.check_id == self.check_id and fnmatch.fnmatchcase(finding.resource, self.resource)


def load_waivers(path: Path = WAIVERS) -> list[Waiver]:
    """The waivers of ``path``; each must name a check and a resource, and say why in a sentence.

    Raises:
        ValueError: a waiver lacks one of them.

    """
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    waivers = []
    for entry in entries:
        missing = [key for key in ("check", "resource", "reason") if not str(entry.get(key, "")).strip()]
        if missing or len(str(entry["reason"]).strip()) < MIN_REASON_CHARS:
            raise ValueError(f"waiver {entry!r} in {path.name} needs check, resource and a reason (a sentence)")
        waivers.append(Waiver(str(entry["check"]), str(entry["resource"]), " ".join(str(entry["reason"]).split())))
    return waivers


def failed_findings(report: Any) -> list[Finding]:
    """The failed checks of a checkov JSON report (one framework's object, or a list of them)."""
    reports = report if isinstance(report, list) else [report]
    found = []
    for framework in reports:
        for check in framework.get("results", {}).get("failed_checks", []):
            found.append(Finding(check["check_id"], check["resource"], check["file_path"]))
    return sorted(set(found), key=str)


def triage(findings: list[Finding], waivers: list[Waiver]) -> tuple[list[Finding], list[Waiver]]:
    """The findings no waiver covers, and the waivers that cover no finding."""
    unwaived = [finding for finding in findings if not any(waiver.covers(finding) for waiver in waivers)]
    stale = [waiver for waiver in waivers if not any(waiver.covers(finding) for finding in findings)]
    return unwaived, stale


def stage(kubectl: str, folder: Path) -> None:
    """What checkov scans, laid out in ``folder``.

    ``k8s/`` holds the rendered overlays and the Argo CD Applications; ``.github/workflows/``,
    ``infra/terraform/`` and ``flink_app/Dockerfile`` are copied as they are.
    """
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "k8s").mkdir(parents=True)
    for overlay in OVERLAYS:
        documents = build_overlay(kubectl, overlay)
        rendered = yaml.safe_dump_all(documents, sort_keys=False)
        (folder / "k8s" / f"overlay-{overlay}.yaml").write_text(rendered, encoding="utf-8")
    for application in sorted((REPO_ROOT / "k8s" / "argocd").glob("*.yaml")):
        shutil.copy(application, folder / "k8s" / f"argocd-{application.name}")
    shutil.copytree(REPO_ROOT / ".github" / "workflows", folder / ".github" / "workflows")
    shutil.copytree(REPO_ROOT / "infra" / "terraform", folder / "infra" / "terraform")
    (folder / "flink_app").mkdir()
    shutil.copy(REPO_ROOT / "flink_app" / "Dockerfile", folder / "flink_app" / "Dockerfile")


def run_checkov(checkov: Path, folder: Path) -> Any:
    """One checkov run over ``folder`` (see ``stage``) for every framework; its JSON report.

    Raises:
        RuntimeError: checkov did not produce a report.

    """
    command = [
        str(checkov),
        "--quiet",
        "--compact",
        "--skip-download",  # no platform look-ups: the checks are the ones in the pinned package
        "--output=json",
        "--framework",
        *FRAMEWORKS,
        "--directory",
        ".",  # relative: under an absolute path through .build/, checkov's kubernetes runner skips every file
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=folder)  # nosec B603 - an argv list
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise RuntimeError(
            f"checkov produced no report (exit {result.returncode}):\n{result.stderr[-2000:]}"
        ) from error


def summary(report: Any) -> list[str]:
    """One line per framework: passed and failed counts."""
    reports = report if isinstance(report, list) else [report]
    lines = []
    for framework in reports:
        counts = framework.get("summary", {})
        lines.append(
            f"  {framework.get('check_type')}: {counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scan; 0 when every failure is waived and every waiver still needed."""
    parser = argparse.ArgumentParser(prog="python -m tools.delivery.checkov", description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", type=Path, default=CHECKOV, help="the checkov executable")
    args = parser.parse_args(argv)
    waivers = load_waivers()
    stage(find_kubectl(), WORK_DIR)
    report = run_checkov(args.checkov, WORK_DIR)
    findings = failed_findings(report)
    unwaived, stale = triage(findings, waivers)
    print("checkov (kubernetes: rendered overlays and Argo CD Applications; Dockerfile; workflows; Terraform):")
    print("\n".join(summary(report)))
    print(f"  {len(findings) - len(unwaived)} failures waived in {WAIVERS.relative_to(REPO_ROOT)}, {len(unwaived)} not")
    for finding in unwaived:
        print(f"FAILED, not waived: {finding}", file=sys.stderr)
    for waiver in stale:
        print(f"waiver matches no failure (remove it): {waiver.check_id} {waiver.resource}", file=sys.stderr)
    return 1 if unwaived or stale else 0


if __name__ == "__main__":
    sys.exit(main())
