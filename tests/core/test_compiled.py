"""numba's cache of the core's compiled functions is invalidated by a change to any core source.

numba checks only the file of the function it compiled; a function calling the core from another
file (the stream's step in ``flink_app/scoring_step.py``) would keep stale machine code after a
rule changed in ``rules.py``. ``core.compiled`` stamps every cached function of the core and the
job with all the core's sources.
"""

import os
import shutil
from pathlib import Path

import pytest

from streamflow.core import compiled
from streamflow.core.state import fold_event


def test_a_compiled_core_function_is_stamped_with_every_core_source() -> None:
    locator = fold_event._cache._impl._locator
    _own_file, core_stamp = locator.get_source_stamp()
    assert core_stamp == compiled.core_sources_stamp()
    assert {name for name, _, _ in core_stamp} >= {"features.py", "rules.py", "signals.py", "state.py"}


def test_editing_any_core_source_changes_the_stamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "core"
    shutil.copytree(compiled.CORE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(compiled, "CORE_DIR", copy)
    before = compiled.core_sources_stamp()
    rules = copy / "rules.py"
    rules.write_text(rules.read_text() + "\n# a changed rule\n")
    os.utime(rules, (1, 1))  # even a file whose time went backwards
    assert compiled.core_sources_stamp() != before
