"""The docs say how batch/stream parity is kept, as the code is: one definition, no second copy."""

from tests.conftest import REPO_ROOT

PARITY_DOCS = ("README.md", "docs/architecture.md", "docs/fraud_core.md", "flink_app/README.md")


def test_the_docs_say_one_definition_and_name_no_second_copy() -> None:
    assert not (REPO_ROOT / "src/streamflow/core/stream_step.py").exists()
    for name in PARITY_DOCS:
        text = (REPO_ROOT / name).read_text()
        assert "stream_step" not in text, name
        assert "written twice" not in text, name
    assert "one definition" in (REPO_ROOT / "README.md").read_text()
    assert "How parity is kept: one definition" in (REPO_ROOT / "docs/architecture.md").read_text()


def test_fraud_core_docs_have_the_recipes_for_a_feature_and_a_rule() -> None:
    text = (REPO_ROOT / "docs/fraud_core.md").read_text()
    assert "## Adding a feature" in text
    assert "## Adding a rule" in text
