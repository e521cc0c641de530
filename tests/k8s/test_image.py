"""The Flink image's inputs: requirements pinned to uv.lock, complete for the job, and the Dockerfile."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from flink_app.config import load_config

from tests.k8s.lock import (
    NATIVE_ROOTS,
    REQUIREMENTS_PATH,
    RUNTIME_ROOTS,
    closure,
    normalize,
    read_lock,
    read_requirements,
)
from tests.k8s.manifests import REPO_ROOT, Manifest, one, pod_environment

DOCKERFILE = REPO_ROOT / "flink_app" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / "flink_app" / "Dockerfile.dockerignore"
ENTRY_POINT = "flink_app.__main__"
FIRST_PARTY = {"flink_app", "streamflow"}


def test_every_requirement_is_pinned_to_the_locked_version() -> None:
    lock = read_lock()
    pins = read_requirements()
    assert pins, f"{REQUIREMENTS_PATH} pins nothing"
    assert {
        name: (version, lock[name].version) for name, version in pins.items() if lock[name].version != version
    } == {}


def test_requirements_are_exactly_the_closure_of_the_job_imports() -> None:
    """Nothing missing (pip installs with --no-deps) and nothing extra; regenerate with tests.k8s.lock."""
    assert read_requirements() == closure(read_lock())


def _module_path(module: str) -> Path | None:
    """The source file of a first-party module, or None when it is not one."""
    parts = module.split(".")
    base = REPO_ROOT if parts[0] == "flink_app" else REPO_ROOT / "src"
    for candidate in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def _third_party_imports(entry: str) -> set[str]:
    """Top-level third-party modules reachable from ``entry`` through first-party imports."""
    found: set[str] = set()
    pending, seen = [entry], set()
    while pending:
        module = pending.pop()
        path = _module_path(module)
        if module in seen or path is None:
            continue
        seen.add(module)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                top = name.split(".")[0]
                if top in FIRST_PARTY:  # the package, its subpackages and the module (a name may be an attribute)
                    parts = name.split(".")
                    pending.extend(".".join(parts[:i]) for i in range(1, len(parts) + 1))
                elif top not in sys.stdlib_module_names and top != "__future__":
                    found.add(top)
    return found


def test_the_requirement_roots_are_what_the_job_imports() -> None:
    """The roots are exactly the distributions of what ``python -m flink_app`` imports, transitively."""
    third_party = _third_party_imports(ENTRY_POINT)
    roots = {normalize(root) for root in RUNTIME_ROOTS}
    distributions = {module: {normalize(d) for d in dists} for module, dists in packages_distributions().items()}
    provided_by = {module: distributions[module] & roots for module in third_party}
    assert {module: dists for module, dists in provided_by.items() if not dists} == {}, "an import no root provides"
    assert set().union(*provided_by.values()) == roots, "a root the job does not import"


def test_the_native_roots_are_the_libraries_the_job_loads() -> None:
    """LightGBM's library, which the job loads by the package's name (not imported: it imports scipy)."""
    source = (REPO_ROOT / "src/streamflow/core/boosting.py").read_text(encoding="utf-8")
    assert set(re.findall(r'find_spec\("([^"]+)"\)', source)) == set(NATIVE_ROOTS)


def test_the_import_walk_follows_first_party_modules() -> None:
    """It reaches the core's numerics through flink_app, and the benchmark's scikit-learn is not on the path."""
    found = _third_party_imports(ENTRY_POINT)
    assert {"pyflink", "numpy", "numba"} <= found
    assert "sklearn" in _third_party_imports("streamflow.devtools.stream_benchmark")
    assert "sklearn" not in found


def test_a_loose_pin_is_rejected(tmp_path: Path) -> None:
    loose = tmp_path / "requirements.txt"
    loose.write_text("numpy>=2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="exact pin"):
        read_requirements(loose)


def test_the_dockerfile_runs_as_non_root_and_installs_the_pins_only() -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    users = re.findall(r"^USER (\S+)$", dockerfile, flags=re.MULTILINE)
    assert users[-1] == "9999:9999"
    assert "--no-deps --compile-bytecode \\\n        -r /opt/streamflow/flink_app/requirements.txt" in dockerfile
    assert "uv pip check" in dockerfile


def test_every_python_install_compiles_bytecode() -> None:
    # The image runs with PYTHONDONTWRITEBYTECODE: without .pyc files every TaskManager's
    # interpreter compiles its imports from source at each start (seconds). Locally, the processes
    # make starts write the bytecode of what they import (the Makefile clears the variable).
    installs = re.findall(r"uv (?:pip install|sync)[^\n]*", DOCKERFILE.read_text(encoding="utf-8"))
    assert len(installs) == 2
    assert all("--compile-bytecode" in install for install in installs)
    assert re.search(r"^export PYTHONDONTWRITEBYTECODE :=$", (REPO_ROOT / "Makefile").read_text(), flags=re.MULTILINE)


def test_the_connector_lands_where_the_prod_config_looks(
    overlays: dict[str, list[Manifest]], monkeypatch: pytest.MonkeyPatch
) -> None:
    pod_spec = one(overlays["prod"], "FlinkDeployment")["spec"]["podTemplate"]["spec"]
    for variable, value in pod_environment(pod_spec, "flink-main-container").items():
        monkeypatch.setenv(variable, value)
    jar = load_config(env="prod").job.kafka.connector_jar
    assert jar is not None
    assert jar.startswith("file://")
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    assert f"-O {jar.removeprefix('file://')} " in dockerfile
    # Connector releases are named <connector>-<Flink minor>; a 2.x connector for the 2.x runtime.
    version = re.search(r"^ARG KAFKA_CONNECTOR_VERSION=(\d+\.\d+\.\d+)-(\d+)\.(\d+)$", dockerfile, flags=re.MULTILINE)
    assert version, "KAFKA_CONNECTOR_VERSION is not <connector>-<Flink major.minor>"
    assert version[2] == read_lock()["apache-flink"].version.split(".")[0]


def test_the_image_context_keeps_local_settings_out() -> None:
    ignore = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    assert ignore[ignore.index("*") :].count("*") == 1
    assert "!conf/local/**" not in ignore
    assert "!conf/**" not in ignore
    copies = re.findall(r"^COPY (conf\S*)", DOCKERFILE.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert copies == ["conf/base", "conf/prod"]


def test_the_image_holds_the_compiled_numba_code_for_any_cpu() -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    compiled = re.search(r"^ENV NUMBA_CACHE_DIR=(\S+) \\\n\s+NUMBA_CPU_NAME=generic\n", dockerfile, flags=re.MULTILINE)
    assert compiled, "numba's cache and CPU are not set before the compile step"
    step = dockerfile[compiled.end() :]
    assert "-m flink_app compile --model /opt/streamflow/model_bundle" in step
    assert f"chown -R 9999:9999 {compiled[1]}" in step
    assert dockerfile.count("NUMBA_CACHE_DIR=") == 1  # the run time reads the cache the build filled


def test_the_image_holds_the_key_map_where_the_job_looks_for_it() -> None:
    from flink_app import keying

    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    build_dir = "/opt/streamflow/" + keying.BUILD_DIR.relative_to(REPO_ROOT).as_posix() + "/"
    assert f"COPY --from=routing-key /jar/ {build_dir}\n" in dockerfile
    assert "COPY flink_app/java /src" in dockerfile
    package = "/src/" + keying.JAVA_PACKAGE.relative_to(keying.JAVA_ROOT).as_posix()
    assert f'sources="$(LC_ALL=C ls {package}/*.java)";' in dockerfile  # every source, in file-name order
    assert keying.java_sources() == sorted(keying.JAVA_PACKAGE.glob("*.java"), key=lambda path: path.name.encode())
    # the jar's name: streamflow-routing-<first 12 hex digits of the sources' SHA-256>.jar
    assert keying.jar_name(b"x").startswith("streamflow-routing-2d711642b726")
    assert '"/jar/streamflow-routing-$(cat ${sources} | sha256sum | cut -c1-12).jar"' in dockerfile
