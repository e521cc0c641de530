"""The README's test command does all the set-up: ``make test`` installs the system packages it needs
as root, through the script ``.ci/run`` runs, and otherwise stops before any test with the command."""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SCRIPT = "tools/install-system-packages"
# What the script and make need to run at all; chromium is left out on purpose.
TOOLS = ("bash", "make", "python3.11", "javac", "initdb", "chromedriver", "kubectl", "tr", "sed", "ls", "id", "cat")


def _path_without_chromium(folder: Path) -> str:
    folder.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool) or shutil.which(tool, path=str(REPO_ROOT / ".tools/kubectl/bin"))
        if found:
            (folder / tool).symlink_to(found)
    for tool in ("dirname", "head", "sh"):
        (folder / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    return str(folder)


@pytest.fixture
def world_readable_folder() -> Iterator[Path]:
    """A temp folder the unprivileged user can read (pytest's own are the test user's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="streamflow-setup-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def test_without_root_make_test_stops_before_any_test_and_prints_the_install_command(
    world_readable_folder: Path,
) -> None:
    tmp_path = world_readable_folder
    setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
    as_nobody = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if os.geteuid() == 0 else []
    environment = {"PATH": _path_without_chromium(tmp_path / "bin"), "HOME": str(tmp_path)}
    result = subprocess.run(
        [*as_nobody, str(shutil.which("make")), "--no-print-directory", "-C", str(REPO_ROOT), "-n", "test"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )  # -n: make prints the recipes it would run; system-packages still runs (it is the check)
    dry_run = subprocess.run(
        [*as_nobody, str(shutil.which("make")), "--no-print-directory", "-C", str(REPO_ROOT), "system-packages"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert "tools/install-system-packages" in result.stdout  # the test target runs the check first
    assert result.stdout.index("install-system-packages") < result.stdout.index("pytest")
    assert dry_run.returncode != 0
    assert "missing" in dry_run.stderr or "not installed" in dry_run.stderr
    assert "chromium" in dry_run.stderr
    assert "sudo tools/install-system-packages" in dry_run.stderr


def test_ci_and_make_test_install_through_the_same_script() -> None:
    ci = (REPO_ROOT / ".ci/run").read_text()
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert f"\n{SCRIPT}\n" in ci
    assert "make test" in ci
    assert "test: system-packages " in makefile
    assert f"@{SCRIPT} --check >/dev/null || {SCRIPT}" in makefile
    assert os.access(REPO_ROOT / SCRIPT, os.X_OK)
