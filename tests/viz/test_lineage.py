"""The kedro-viz lineage site, built from a scratch project and drawn in headless Chromium."""

import urllib.error
import urllib.request
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project

from streamflow.devtools.lineage import SITE_MARKER, build_site, drawn_task_nodes, serve
from streamflow.devtools.scratch import make_scratch_project
from tests.conftest import REPO_ROOT


def test_lineage_site_draws_every_medallion_and_model_node_in_chromium(tmp_path: Path) -> None:
    project = make_scratch_project(REPO_ROOT, tmp_path / "project")
    # What another tool left where kedro viz build writes (the stream's jar lived there once, and
    # `make viz` after `make stream` failed): the build must neither trip on it nor touch it.
    left_there = project / "build" / "flink_app" / "streamflow-routing-000000000000.jar"
    left_there.parent.mkdir(parents=True)
    left_there.write_bytes(b"a jar")
    bootstrap_project(project)
    expected = sorted(node.name for name in ("medallion", "model") for node in pipelines[name].nodes)

    site = build_site(project, tmp_path / "site")
    assert (site / SITE_MARKER).is_file()
    assert sorted(path.name for path in (project / "build").rglob("*")) == ["flink_app", left_there.name]
    assert left_there.read_bytes() == b"a jar"
    assert "heap" not in (site / "index.html").read_text()  # telemetry is off: no analytics snippet

    screenshot = tmp_path / "lineage.png"
    with serve(site) as url:
        drawn = drawn_task_nodes(url, screenshot, expected=expected)

    assert set(expected) <= drawn
    with pytest.raises(urllib.error.URLError, match="refused"):  # the server was stopped by its PID
        urllib.request.urlopen(url, timeout=2)
    pixels = matplotlib.image.imread(screenshot)
    assert pixels.shape[0] >= 600
    assert pixels.shape[1] >= 1200
    assert float(np.std(pixels[..., :3])) > 0.05  # a drawn graph, not a blank page


def test_the_streams_jar_is_kept_out_of_where_kedro_viz_builds() -> None:
    from flink_app import keying

    assert keying.BUILD_DIR.relative_to(REPO_ROOT).parts[0] != "build"
