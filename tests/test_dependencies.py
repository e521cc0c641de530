"""Every third-party package the product's code imports is a direct, pinned dependency (not a transitive one)."""

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

from tests.conftest import REPO_ROOT

PRODUCT_CODE = ("src/streamflow", "flink_app")


def _imported_top_level_modules() -> dict[str, set[str]]:
    """Top-level module name -> the files that import it (relative and project imports left out)."""
    found: dict[str, set[str]] = {}
    for root in PRODUCT_CODE:
        for path in (REPO_ROOT / root).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(REPO_ROOT)))
    return found


def _declared() -> dict[str, str]:
    """Normalised distribution name -> its pinned requirement: ``[project] dependencies`` and the dev group.

    The dev group counts for the developer tools in the package (``streamflow.devtools.lineage``'s browser check).
    """
    pyproject = tomllib.loads(Path(REPO_ROOT / "pyproject.toml").read_text())
    texts = pyproject["project"]["dependencies"] + pyproject["dependency-groups"]["dev"]
    requirements = [Requirement(text) for text in texts]
    return {requirement.name.lower().replace("_", "-"): str(requirement.specifier) for requirement in requirements}


def test_every_imported_distribution_is_declared_and_pinned() -> None:
    declared = _declared()
    distributions = packages_distributions()
    local = {"streamflow", "flink_app", "tests"}
    missing = {}
    for module, files in sorted(_imported_top_level_modules().items()):
        if module in local or module in sys.stdlib_module_names:
            continue
        owners = {name.lower().replace("_", "-") for name in distributions.get(module, [])}
        assert owners, f"{module} (imported by {sorted(files)}) is not installed"
        if not owners & set(declared):
            missing[module] = (sorted(owners), sorted(files))
    assert not missing, f"imported but only transitive (declare them in pyproject.toml): {missing}"
    assert all(specifier.startswith("==") for specifier in declared.values()), declared
