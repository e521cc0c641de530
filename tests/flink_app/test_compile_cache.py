"""The image's numba cache: ``python -m flink_app compile`` fills it, and a job started with the
same ``NUMBA_CACHE_DIR`` and ``NUMBA_CPU_NAME=generic`` loads every compiled function from it
(numba writes to its cache only what it had to compile). On a real local MiniCluster."""

import os
import subprocess
import sys
from pathlib import Path

from streamflow.devtools.stream_benchmark import synthetic_bundle
from tests.conftest import REPO_ROOT
from tests.flink_app.test_recovery import score_command, write_events

RUN_TIMEOUT_S = 300


def cache_files(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its modification time and size."""
    return {
        str(path.relative_to(folder)): (path.stat().st_mtime_ns, path.stat().st_size)
        for path in folder.rglob("*")
        if path.is_file()
    }


def test_a_job_loads_what_the_compile_command_cached(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    synthetic_bundle(bundle, model_version="cache-test", n_trees=5, n_rows=200)
    cache = tmp_path / "numba"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "NUMBA_CPU_NAME": "generic"}

    def run(command: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
        )

    compiled = run([sys.executable, "-m", "flink_app", "compile", "--model", str(bundle)])
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    assert f"(cache-test) into numba's cache: {cache}, for generic" in compiled.stdout
    filled = cache_files(cache)
    assert any(name.endswith(".nbc") for name in filled)

    write_events(tmp_path / "in", 300)
    scored = run(score_command(tmp_path / "in", tmp_path / "out", tmp_path / "checkpoints", "--model", str(bundle)))
    assert scored.returncode == 0, scored.stdout[-3000:] + scored.stderr[-3000:]
    assert "every event scored or dead-lettered" in scored.stdout
    assert cache_files(cache) == filled  # nothing compiled: nothing written


def test_compiling_for_a_missing_bundle_fails_clearly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flink_app", "compile", "--model", str(tmp_path / "no-bundle")],
        cwd=REPO_ROOT,
        env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 2
    assert "error [model_required]:" in result.stderr
    assert "no-bundle" in result.stderr
