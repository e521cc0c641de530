"""Developer tools live in ``streamflow.devtools``: the pipelines, the hooks and the Flink job never import them."""

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO_ROOT

PRODUCT_ROOTS = (REPO_ROOT / "src" / "streamflow", REPO_ROOT / "flink_app")
DEVTOOLS = REPO_ROOT / "src" / "streamflow" / "devtools"


def _imported_modules(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_no_product_module_imports_the_developer_tools() -> None:
    importers = {
        str(path.relative_to(REPO_ROOT))
        for root in PRODUCT_ROOTS
        for path in root.rglob("*.py")
        if not path.is_relative_to(DEVTOOLS)
        and any(name.startswith("streamflow.devtools") for name in _imported_modules(path))
    }
    assert importers == set()


def test_the_job_package_and_the_package_root_hold_no_developer_tools() -> None:
    assert not list((REPO_ROOT / "flink_app").glob("*bench*.py"))
    for name in ("bench", "lineage", "scratch"):
        assert not (REPO_ROOT / "src" / "streamflow" / f"{name}.py").exists(), name
