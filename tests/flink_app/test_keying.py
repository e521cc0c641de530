"""Lines keyed by customer in the JVM: the jar, the Java key against the parser's, the keyed function's check."""

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from flink_app.config import load_config
from flink_app.job import DEAD_LETTERS, ScoreEvents

from flink_app import keying
from streamflow.core import ContractConfig, EventError, keyed_without_parser, parse_event, routing_key
from streamflow.devtools.stream_benchmark import InMemoryContext
from streamflow.generator import GeneratorConfig, generate_stream
from tests.conftest import REPO_ROOT
from tests.factories import sink_records

VALID = {
    "schema_version": 1,
    "transaction_id": "T-1",
    "customer_id": "C-1",
    "card_id": "K-1",
    "store_id": "S-1",
    "product_id": "P-1",
    "amount": 12.5,
    "currency": "EUR",
    "timestamp": "2026-01-01T10:00:00+01:00",
    "latitude": 48.85,
    "longitude": 2.35,
    "channel": "online",
}
BODY = json.dumps({key: value for key, value in VALID.items() if key != "customer_id"})[1:-1]

# Lines whose key takes the JSON parser's path (and a few that do not), valid or not.
EDGE_LINES = [
    json.dumps({**VALID, "customer_id": "Cé-1"}),  # escaped (\u00e9) by json.dumps
    json.dumps({**VALID, "customer_id": "C😀-1"}),  # a surrogate pair escaped
    json.dumps({**VALID, "store_id": 'S"1'}),  # an escape elsewhere
    json.dumps({**VALID, "meta": {"customer_id": "NESTED"}}),  # nested after the member
    json.dumps({"meta": {"customer_id": "NESTED"}, **VALID}),  # nested before it
    '{"customer_id": "FIRST", ' + BODY + ', "customer_id": "LAST"}',  # repeated: the last one counts
    '{"customer_id" :\t"SPACED", ' + BODY + "}",
    '{"customer_id": 17, ' + BODY + "}",
    '{"customer_id": null, ' + BODY + "}",
    "{" + BODY + "}",
    '{"customer_id": "C-1", ' + BODY + "} trailing",
    '{"customer_id": "C-1", ' + BODY + ', "x": NaN}',
    '{"customer_id": "C-1\\ud800", ' + BODY + "}",
    '["customer_id", "C-1"]',
    '"customer_id"',
    "not json at all",
    "",
    json.dumps({**VALID, "customer_id": ""}),
]


@pytest.fixture(scope="module")
def jar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = keying.routing_jar(tmp_path_factory.mktemp("jar"))
    assert built is not None, "javac is needed for these tests (a JDK)"
    return built


def java_main(jar: Path, main_class: str, lines: list[str], *args: str) -> list[str]:
    """What a class's ``main`` prints for ``lines`` on its standard input, a line each."""
    classpath = os.pathsep.join(map(str, [jar, *keying.flink_jars()]))
    result = subprocess.run(
        ["java", "-cp", classpath, main_class, *args],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
        timeout=120,
    )
    return result.stdout.splitlines()


def java_keys(jar: Path, lines: list[str]) -> list[str]:
    """``RoutingKey.customerId`` of each line, through the class's ``main`` (JSON strings, exact)."""
    return [json.loads(key) for key in java_main(jar, keying.JAVA_CLASS, lines)]


def test_the_jar_is_compiled_once_and_named_by_its_source(tmp_path: Path) -> None:
    jar = keying.routing_jar(tmp_path)
    assert jar is not None
    assert jar.name == keying.jar_name(b"".join(source.read_bytes() for source in keying.java_sources()))
    built_at = jar.stat().st_mtime_ns
    assert keying.routing_jar(tmp_path) == jar
    assert jar.stat().st_mtime_ns == built_at
    assert [path.name for path in tmp_path.iterdir()] == [jar.name]  # no scratch left behind


def test_the_java_shard_of_an_id_is_the_python_one(jar: Path) -> None:
    ids = ["C0000323", "", "Cé-1", "C😀-1", *(f"C{index:07d}" for index in range(200))]
    shards = [int(shard) for shard in java_main(jar, "io.streamflow.flink.MiniBatchLines", ids, "32")]
    assert shards == [keying.shard_of(id_, 32) for id_ in ids]
    assert len(set(shards)) == 32  # every shard is used


def test_batches_are_cut_per_shard_in_arrival_order() -> None:
    lines = [
        json.dumps({**VALID, "transaction_id": f"T-{index}", "customer_id": f"C-{index % 7}"}) for index in range(40)
    ]
    batches = list(keying.cut_batches(lines, shards=3, size=4))
    for batch in batches:
        keys, batch_lines = batch[::2], batch[1::2]
        assert len(batch_lines) <= 4
        assert {keying.shard_of(key, 3) for key in keys} == {keying.shard_of(keys[0], 3)}
        assert keys == [json.loads(line)["customer_id"] for line in batch_lines]
    for customer in {f"C-{index}" for index in range(7)}:  # each customer's lines keep their order
        seen = [line for batch in batches for line in batch[1::2] if json.loads(line)["customer_id"] == customer]
        assert seen == [line for line in lines if json.loads(line)["customer_id"] == customer]
    assert sorted(line for batch in batches for line in batch[1::2]) == sorted(lines)


def test_without_a_jdk_lines_are_keyed_in_python_said_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with caplog.at_level(logging.WARNING, logger="flink_app.keying"):
        assert keying.routing_jar(tmp_path) is None
    assert "keyed in Python" in caplog.text


def test_the_java_key_is_the_customer_id_the_parser_reads(jar: Path) -> None:
    stream = generate_stream(
        GeneratorConfig.from_dict({"n_events": 2_000, "days": 2, "malformed_rate": 0.05}, ["S00007"]),
        ContractConfig(),
    )
    lines = [line for text in stream.partitions.values() for line in text.splitlines()] + EDGE_LINES
    parsed = 0
    for line, key in zip(lines, java_keys(jar, lines), strict=True):
        if keyed_without_parser(line):
            assert key == routing_key(line), line
        try:
            event = parse_event(line)
        except EventError:
            continue
        parsed += 1
        well_formed = not any(0xD800 <= ord(char) <= 0xDFFF for char in event.customer_id)
        assert key == (event.customer_id if well_formed else ""), line  # a lone surrogate: unroutable
    assert parsed > 1_800


def test_a_line_keyed_by_another_customer_id_is_dead_lettered_not_scored() -> None:
    function = ScoreEvents(load_config(), None, source="test")
    context = InMemoryContext()
    function.open(context)
    line = json.dumps({**VALID, "customer_id": "Cé-1"})  # has an escape: its key is checked
    context.state.key = "C-1"
    (kind, record), *_ = function.process_element(line, context)
    assert kind is DEAD_LETTERS
    assert json.loads(record)["error_code"] == "unroutable_event"
    context.state.key = "Cé-1"
    (scored,) = function.process_element(line, context)
    assert json.loads(scored)["customer_id"] == "Cé-1"


@pytest.mark.parametrize("keying", ["mini_batch", "jvm", "python"])
def test_escaped_ids_are_scored_and_a_lone_surrogate_is_dead_lettered(tmp_path: Path, keying: str) -> None:
    """On a real MiniCluster: a lone surrogate key used to fail the task, which restarted forever."""
    ids = ["C-1", "C-1", "Cé-1", "C😀", "C-1\ud800"]
    lines = [json.dumps({**VALID, "transaction_id": f"T-{index}", "customer_id": id_}) for index, id_ in enumerate(ids)]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "flink_app", "score", "--input", str(tmp_path / "in.jsonl")]
    command += ["--output", str(tmp_path / "out"), "--model", "none", "--keying", keying]
    command += ["--checkpoint-dir", str(tmp_path / "checkpoints")]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    scored = sink_records(tmp_path / "out" / "scored")
    dead = sink_records(tmp_path / "out" / "dlq")
    assert sorted(record["customer_id"] for record in scored) == sorted(ids[:4])
    assert [record["error_code"] for record in dead] == ["unroutable_event"]
