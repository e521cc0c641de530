"""The scans' waivers are explained and kept true: bandit's ``# nosec``, checkov's waivers, pip-audit's
allow-list; and the wrappers judge their tools' reports as documented (the scans themselves run in
``make security``, part of ``make test``)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from tools.delivery import audit, checkov

from tests.conftest import REPO_ROOT
from tests.k8s.manifests import find_kubectl

SCANNED = ("src", "flink_app", "tools/delivery")
NOSEC = re.compile(r"#\s*nosec\b(?P<rest>.*)$")
EXPLAINED_NOSEC = re.compile(r"^ (?P<ids>B\d{3}(?:, ?B\d{3})*)(?: - (?P<why>.{10,}))?$")


def _nosec_lines() -> list[tuple[str, str]]:
    found = []
    for root in SCANNED:
        for path in sorted((REPO_ROOT / root).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                match = NOSEC.search(line)
                if match:
                    found.append((f"{path.relative_to(REPO_ROOT)}:{number}", match["rest"]))
    return found


def test_every_bandit_waiver_names_its_check_and_says_why() -> None:
    waivers = _nosec_lines()
    assert waivers  # the known ones: pickles of the benchmark's own files, a loopback URL, quoted SQL names
    unexplained = []
    for where, rest in waivers:
        match = EXPLAINED_NOSEC.match(rest)
        if not match or not match["why"]:
            unexplained.append(where)
    assert unexplained == [], "write `# nosec BXXX - why` (one check, and the reason it is safe)"


def test_bandit_reports_no_medium_or_high_finding() -> None:
    result = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "bandit"), "--quiet", "--recursive", "--severity-level", "medium", *SCANNED],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout


def test_checkov_waivers_each_have_a_reason() -> None:
    waivers = checkov.load_waivers()
    assert waivers
    assert all(waiver.check_id.startswith(("CKV_", "CKV2_")) for waiver in waivers)


def test_a_checkov_waiver_without_a_reason_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text("- check: CKV_K8S_11\n  resource: '*'\n  reason: because\n")
    with pytest.raises(ValueError, match="reason"):
        checkov.load_waivers(path)


def test_checkov_triage_fails_unwaived_findings_and_stale_waivers() -> None:
    report = [
        {"check_type": "kubernetes", "results": {"failed_checks": [
            {"check_id": "CKV_K8S_11", "resource": "CronJob.streamflow.batch", "file_path": "/k8s/a.yaml"},
            {"check_id": "CKV_K8S_20", "resource": "Deployment.streamflow.x", "file_path": "/k8s/a.yaml"},
        ]}},
        {"check_type": "terraform", "results": {"failed_checks": []}},
    ]  # fmt: skip
    findings = checkov.failed_findings(report)
    waivers = [
        checkov.Waiver("CKV_K8S_11", "CronJob.*", "no CPU limit on purpose, see the file"),
        checkov.Waiver("CKV_GCP_6", "module.x.*", "a waiver whose failure was fixed since"),
    ]
    unwaived, stale = checkov.triage(findings, waivers)
    assert [finding.check_id for finding in unwaived] == ["CKV_K8S_20"]
    assert [waiver.check_id for waiver in stale] == ["CKV_GCP_6"]


def test_the_pip_audit_allowlist_lines_are_well_formed(tmp_path: Path) -> None:
    assert all(entry.reason for entry in audit.load_allowlist())
    bad = tmp_path / "allowlist.txt"
    bad.write_text("GHSA-xxxx-yyyy-zzzz urllib3\n")
    with pytest.raises(ValueError, match="advisory id"):
        audit.load_allowlist(bad)


def test_pip_audit_skipped_packages_are_blocked_never_passed() -> None:
    report = {
        "dependencies": [{"name": "zipp", "skip_reason": "Dependency not found on PyPI and could not be audited"}]
    }
    found = audit.read_report(report)
    code, lines = audit.verdict(found, [], require_all=False)
    assert code == 0
    assert lines[0] == "pip-audit: 0 of 1 locked packages audited against PyPI's advisories"
    assert any(line.strip().startswith("BLOCKED: 1 packages") for line in lines)
    assert not any("no known vulnerability" in line for line in lines)
    assert audit.verdict(found, [], require_all=True)[0] == 1


def test_pip_audit_vulnerabilities_fail_unless_accepted_with_a_reason() -> None:
    report = {"dependencies": [{"name": "urllib3", "version": "2.0.0", "vulns": [{"id": "GHSA-aaaa-bbbb-cccc"}]}]}
    found = audit.read_report(report)
    assert audit.verdict(found, [], require_all=True)[0] == 1
    accepted = [audit.Accepted("GHSA-aaaa-bbbb-cccc", "urllib3", "only the test client uses it, on loopback")]
    code, lines = audit.verdict(found, accepted, require_all=True)
    assert code == 0
    assert any("accepted" in line for line in lines)
    clean = audit.read_report({"dependencies": [{"name": "zipp", "version": "4.1.2", "vulns": []}]})
    assert audit.verdict(clean, [], require_all=True) == (
        0,
        ["pip-audit: 1 of 1 locked packages audited against PyPI's advisories", "  no known vulnerability"],
    )


def test_checkov_scans_the_rendered_overlays_applications_workflows_terraform_and_dockerfile(tmp_path: Path) -> None:
    folder = tmp_path / "scan"
    checkov.stage(find_kubectl(), folder)
    expected = {
        "k8s/overlay-local.yaml",
        "k8s/overlay-prod.yaml",
        "k8s/argocd-streamflow-local.yaml",
        "k8s/argocd-streamflow-prod.yaml",
        ".github/workflows/ci.yml",
        ".github/workflows/deploy.yml",
        "infra/terraform/prod/main.tf",
        "flink_app/Dockerfile",
    }
    assert expected <= {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}
    assert "kind: FlinkDeployment" in (folder / "k8s" / "overlay-prod.yaml").read_text()


def test_checkov_main_fails_on_a_failure_no_waiver_covers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report = {
        "check_type": "terraform",
        "summary": {"passed": 3, "failed": 1},
        "results": {"failed_checks": [{"check_id": "CKV_GCP_1", "resource": "google_x.y", "file_path": "/a.tf"}]},
    }
    monkeypatch.setattr(checkov, "stage", lambda *_: None)
    monkeypatch.setattr(checkov, "find_kubectl", lambda: "kubectl")
    monkeypatch.setattr(checkov, "run_checkov", lambda *_: report)
    monkeypatch.setattr(checkov, "load_waivers", lambda: [])
    assert checkov.main([]) == 1
    out, err = capsys.readouterr()
    assert "terraform: 3 passed, 1 failed" in out
    assert "FAILED, not waived: CKV_GCP_1 google_x.y (/a.tf)" in err
    waiver = checkov.Waiver("CKV_GCP_1", "google_x.*", "a reason long enough")
    monkeypatch.setattr(checkov, "load_waivers", lambda: [waiver])
    assert checkov.main([]) == 0


def test_audit_main_reads_what_pip_audit_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "pip-audit"
    report = {"dependencies": [{"name": "zipp", "version": "4.1.2", "vulns": [{"id": "PYSEC-0000-1"}]}]}
    fake.write_text(f"#!/bin/sh\necho '{json.dumps(report)}'\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(audit, "PIP_AUDIT", fake)
    assert audit.main(["--requirements", str(tmp_path / "requirements.txt")]) == 1
    assert "VULNERABLE: zipp 4.1.2: PYSEC-0000-1" in capsys.readouterr().out
    fake.write_text("#!/bin/sh\necho 'network unreachable' >&2\nexit 1\n")
    assert audit.main([]) == 1
    assert "BLOCKED, no report" in capsys.readouterr().err
