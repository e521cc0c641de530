"""The docs say how batch/stream parity is kept, as the code is: while the stream's compiled step exists
beside the readable core, nothing claims they run "the same code" without saying how they are held equal."""

from tests.conftest import REPO_ROOT

PARITY_DOCS = ("README.md", "docs/architecture.md", "docs/fraud_core.md", "flink_app/README.md")


def test_while_the_stream_has_its_own_copy_the_docs_say_how_parity_is_kept() -> None:
    if not (REPO_ROOT / "src/streamflow/core/stream_step.py").exists():
        return  # one definition: nothing to explain
    architecture = (REPO_ROOT / "docs/architecture.md").read_text()
    assert "How parity is kept today" in architecture
    assert "tests/core/test_stream_step.py" in architecture
    for name in PARITY_DOCS:
        text = (REPO_ROOT / name).read_text()
        assert "over the same code" not in text, name
        assert "share one pure fraud core, so batch and stream compute the same numbers." not in text, name
        assert "twice" in text or "second copy" in text, name
