"""The Flink image's Python requirements, derived from ``uv.lock``.

``flink_app/requirements.txt`` pins the packages the job imports at run time and everything they
depend on, each at the version ``uv.lock`` holds, for the image's platform (CPython 3.11 on Linux).
Regenerate it after a lock change with::

    .venv/bin/python -m tests.k8s.lock > flink_app/requirements.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK_PATH = REPO_ROOT / "uv.lock"
REQUIREMENTS_PATH = REPO_ROOT / "flink_app" / "requirements.txt"

# What flink_app and streamflow.core import at run time (tests/k8s/test_image.py checks the list
# against their import statements).
RUNTIME_ROOTS = ("apache-flink", "msgspec", "numba", "numpy", "omegaconf", "orjson", "py4j", "pyyaml", "tqdm")
# What the job loads without importing it: LightGBM's C library explains the champion's alerts
# (streamflow.core.boosting.lightgbm_library finds it in the installed package).
NATIVE_ROOTS = ("lightgbm",)

# The image: the official Flink image (Ubuntu, x86_64 or aarch64) with CPython 3.11.
IMAGE_ENVIRONMENTS: tuple[Mapping[str, str], ...] = tuple(
    {
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "python_version": "3.11",
        "python_full_version": "3.11.13",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": machine,
        "extra": "",
    }
    for machine in ("x86_64", "aarch64")
)

HEADER = """\
# Python packages of the Flink image (flink_app/Dockerfile): what the job imports at run time and
# everything those depend on, each at its uv.lock version (CPython 3.11, Linux). Generated; do not
# edit. Regenerate: .venv/bin/python -m tests.k8s.lock > flink_app/requirements.txt
# tests/k8s/test_image.py checks every pin against uv.lock and that the set is closed.
"""


@dataclass(frozen=True)
class LockedPackage:
    """One ``[[package]]`` of ``uv.lock``: its version and its dependencies with their markers."""

    name: str
    version: str
    dependencies: tuple[tuple[str, str | None, tuple[str, ...]], ...]
    optional: Mapping[str, tuple[tuple[str, str | None, tuple[str, ...]], ...]]


def normalize(name: str) -> str:
    """The PEP 503 normalized form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _dependencies(entries: Iterable[Mapping[str, object]]) -> tuple[tuple[str, str | None, tuple[str, ...]], ...]:
    found = []
    for entry in entries:
        marker = entry.get("marker")
        extras = entry.get("extra") or ()
        assert isinstance(extras, list | tuple)
        found.append((normalize(str(entry["name"])), None if marker is None else str(marker), tuple(map(str, extras))))
    return tuple(found)


def read_lock(path: Path = LOCK_PATH) -> dict[str, LockedPackage]:
    """Every package of the lock by normalized name."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    packages = {}
    for raw in data["package"]:
        if "version" not in raw:
            continue
        name = normalize(raw["name"])
        optional = {extra: _dependencies(deps) for extra, deps in raw.get("optional-dependencies", {}).items()}
        packages[name] = LockedPackage(name, raw["version"], _dependencies(raw.get("dependencies", [])), optional)
    return packages


def _applies(marker: str | None) -> bool:
    return marker is None or any(Marker(marker).evaluate(dict(env)) for env in IMAGE_ENVIRONMENTS)


def closure(lock: Mapping[str, LockedPackage], roots: Iterable[str] = RUNTIME_ROOTS + NATIVE_ROOTS) -> dict[str, str]:
    """The roots and everything they need on the image's platform, name to locked version.

    Raises:
        KeyError: a root or a dependency is not in the lock.
    """
    pinned: dict[str, str] = {}
    pending: list[tuple[str, tuple[str, ...]]] = [(normalize(root), ()) for root in roots]
    seen: set[tuple[str, tuple[str, ...]]] = set()
    while pending:
        name, extras = pending.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        package = lock[name]
        pinned[name] = package.version
        wanted = list(package.dependencies)
        for extra in extras:
            wanted.extend(package.optional.get(extra, ()))
        pending.extend((dep, dep_extras) for dep, marker, dep_extras in wanted if _applies(marker))
    return dict(sorted(pinned.items()))


def read_requirements(path: Path = REQUIREMENTS_PATH) -> dict[str, str]:
    """The ``name==version`` pins of a requirements file, by normalized name.

    Raises:
        ValueError: a line that is not a comment, blank, or an exact ``==`` pin.
    """
    pins = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", text)
        if match is None:
            raise ValueError(f"{path.name}:{number}: expected an exact pin 'name==version', got {line!r}")
        pins[normalize(match[1])] = match[2]
    return pins


def render(pins: Mapping[str, str]) -> str:
    """A requirements file: the header, then one pin a line."""
    return HEADER + "".join(f"{name}=={version}\n" for name, version in pins.items())


def main() -> int:
    """Print ``flink_app/requirements.txt`` for the current lock."""
    sys.stdout.write(render(closure(read_lock())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
