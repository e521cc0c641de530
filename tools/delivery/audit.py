"""pip-audit on every package of uv.lock, read for what it really checked.

``make audit`` exports the lock (every group) and runs ``python -m tools.delivery.audit``. pip-audit
says "No known vulnerabilities found" even when it could look nothing up (each package then carries
a ``skip_reason``), so this reads its JSON report and says how many packages were audited:

- a known vulnerability fails, unless ``tools/pip-audit/allowlist.txt`` lists its id with a reason;
- packages that could not be looked up are listed as BLOCKED with pip-audit's reason; with
  ``--require-all`` (the CI workflow) that fails, otherwise it is reported and not counted as a pass.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
PIP_AUDIT = REPO_ROOT / ".venv" / "bin" / "pip-audit"
ALLOWLIST = REPO_ROOT / "tools" / "pip-audit" / "allowlist.txt"
LOCK_EXPORT = REPO_ROOT / ".build" / "delivery" / "requirements-lock.txt"


@dataclass(frozen=True)
class Accepted:
    """An advisory accepted for one package, and why."""

    advisory: str
    package: str
    reason: str


@dataclass(frozen=True)
class Audit:
    """What one pip-audit report says: packages audited, vulnerabilities found, packages skipped and why."""

    audited: int
    vulnerabilities: list[tuple[str, str, str]]  # (package, version, advisory id)
    skipped: dict[str, str]  # package -> pip-audit's skip reason


def load_allowlist(path: Path = ALLOWLIST) -> list[Accepted]:
    """``<advisory id> <package> <why>`` lines (``#`` comments and blank lines aside).

    Raises:
        ValueError: a line lacks its package or its reason.

    """
    accepted = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(maxsplit=2)
        if len(parts) < 3 or len(parts[2]) < 20:
            raise ValueError(f"{path.name}:{number}: expected '<advisory id> <package> <why, a sentence>'")
        accepted.append(Accepted(*parts))
    return accepted


def read_report(report: dict[str, Any]) -> Audit:
    """The counts and findings of pip-audit's ``--format json`` report."""
    audited, vulnerabilities, skipped = 0, [], {}
    for dependency in report["dependencies"]:
        if "skip_reason" in dependency:
            skipped[dependency["name"]] = dependency["skip_reason"]
            continue
        audited += 1
        for vulnerability in dependency.get("vulns", []):
            vulnerabilities.append((dependency["name"], dependency["version"], vulnerability["id"]))
    return Audit(audited, sorted(vulnerabilities), skipped)


def verdict(audit: Audit, accepted: list[Accepted], *, require_all: bool) -> tuple[int, list[str]]:
    """The exit code and the lines to print for ``audit``."""
    allowed = {(entry.advisory, entry.package.lower()) for entry in accepted}
    total = audit.audited + len(audit.skipped)
    lines = [f"pip-audit: {audit.audited} of {total} locked packages audited against PyPI's advisories"]
    code = 0
    for package, version, advisory in audit.vulnerabilities:
        if (advisory, package.lower()) in allowed:
            lines.append(f"  accepted (tools/pip-audit/allowlist.txt): {advisory} in {package} {version}")
        else:
            lines.append(f"  VULNERABLE: {package} {version}: {advisory}")
            code = 1
    if audit.skipped:
        reasons = sorted(set(audit.skipped.values()))
        lines.append(f"  BLOCKED: {len(audit.skipped)} packages could not be audited, e.g. {reasons[0]}")
        if require_all:
            code = 1
        else:
            lines.append("  (not a pass: those packages are unchecked; --require-all makes this fail, as CI does)")
    elif not audit.vulnerabilities:
        lines.append("  no known vulnerability")
    return code, lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run pip-audit on the exported lock and judge its report."""
    parser = argparse.ArgumentParser(prog="python -m tools.delivery.audit", description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, default=LOCK_EXPORT)
    parser.add_argument("--require-all", action="store_true", help="fail when any package could not be audited")
    args = parser.parse_args(argv)
    accepted = load_allowlist()
    command = [str(PIP_AUDIT), "--requirement", str(args.requirements), "--no-deps", "--disable-pip"]
    command += ["--progress-spinner", "off", "--format", "json"]  # allow-listed ids are judged below, not hidden
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # nosec B603 - argv, no shell
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        print(f"pip-audit: BLOCKED, no report (exit {result.returncode}):\n{result.stderr[-2000:]}", file=sys.stderr)
        return 1
    code, lines = verdict(read_report(report), accepted, require_all=args.require_all)
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    sys.exit(main())
