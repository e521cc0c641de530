"""Offline reading of infra/terraform with python-hcl2: no Terraform binary, no provider, no plan."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import hcl2

from tests.conftest import REPO_ROOT

TERRAFORM_DIR = REPO_ROOT / "infra" / "terraform"
ROOT_MODULE = TERRAFORM_DIR / "prod"
OPTIONS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


@cache
def parse(path: Path) -> dict[str, Any]:
    """One .tf file as python-hcl2 reads it (strings unquoted; expressions as ``${...}``)."""
    with path.open(encoding="utf-8") as handle:
        return dict(hcl2.load(handle, serialization_options=OPTIONS))


def tf_files() -> list[Path]:
    """Every .tf file under infra/terraform."""
    return sorted(TERRAFORM_DIR.rglob("*.tf"))


def module_dirs() -> list[Path]:
    """The root module and every module under modules/."""
    return [ROOT_MODULE, *sorted(path for path in (TERRAFORM_DIR / "modules").iterdir() if path.is_dir())]


def blocks(folder: Path, kind: str) -> dict[str, Any]:
    """The ``kind`` blocks (variable, output, module, locals) of a module, by name (locals merged)."""
    found: dict[str, Any] = {}
    for path in sorted(folder.glob("*.tf")):
        for block in parse(path).get(kind, []):
            found.update(block)
    return found


def resources(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The resource and data blocks of a module by (type, name); data sources typed ``data.<type>``."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(folder.glob("*.tf")):
        document = parse(path)
        for prefix, kind in (("", "resource"), ("data.", "data")):
            for block in document.get(kind, []):
                for resource_type, named in block.items():
                    for name, body in named.items():
                        found[prefix + resource_type, name] = body
    return found


def expression(value: Any) -> str:
    """A python-hcl2 expression without its ``${...}`` wrapper."""
    text = str(value)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def block(body: dict[str, Any], *path: str) -> dict[str, Any]:
    """The nested block ``path`` of a resource body (each block is a one-item list in python-hcl2)."""
    found: Any = body
    for name in path:
        found = found[name]
        if isinstance(found, list):
            assert len(found) == 1, f"{name}: {len(found)} blocks"
            found = found[0]
    return dict(found)
