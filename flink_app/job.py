"""The PyFlink job: parse (dead letters on a side output), key by customer, score, sink."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from pyflink.common import Configuration, Types, WatermarkStrategy
from pyflink.common.serialization import Encoder
from pyflink.datastream import (
    KeyedProcessFunction,
    OutputTag,
    ProcessFunction,
    RuntimeContext,
    RuntimeExecutionMode,
    StreamExecutionEnvironment,
)
from pyflink.datastream.connectors.file_system import FileSink, FileSource, OutputFileConfig, StreamFormat
from pyflink.datastream.state import ValueStateDescriptor

from flink_app.config import StreamConfig
from flink_app.records import RULES_ONLY_VERSION, dead_letter, score_event, to_json, utc_now
from streamflow import __version__ as job_version
from streamflow.core import ContractConfig, CustomerState, EventError, RulesConfig, parse_event
from streamflow.core.forest import ModelBundle, ModelError

logger = logging.getLogger(__name__)

ALERTS = OutputTag("fraud-alerts", Types.STRING())
DEAD_LETTERS = OutputTag("dead-letters", Types.STRING())


class ParseEvents(ProcessFunction):  # type: ignore[misc]
    """Parse raw lines with the core parser; rejected lines go to the dead-letter output."""

    def __init__(self, contract: ContractConfig, source: str, model_version: str) -> None:
        self._contract = contract
        self._source = source
        self._model_version = model_version

    def process_element(self, value: str, ctx: ProcessFunction.Context) -> Any:
        """Yield the parsed event, or a dead-letter record to the side output."""
        try:
            yield parse_event(value, self._contract)
        except EventError as error:
            record = dead_letter(
                value,
                error,
                source=self._source,
                received_at=utc_now(),
                job_version=job_version,
                model_version=self._model_version,
            )
            yield DEAD_LETTERS, to_json(record)


class ScoreEvents(KeyedProcessFunction):  # type: ignore[misc]
    """Per customer: state from Flink, decision from the core, state back to Flink.

    State: one ``ValueState`` of the core's serialized ``CustomerState`` (bounded, see
    ``streamflow.core.state``).
    """

    def __init__(self, rules: RulesConfig, model_path: str | None, rules_only_threshold: float) -> None:
        self._rules = rules
        self._model_path = model_path
        self._rules_only_threshold = rules_only_threshold
        self._bundle: ModelBundle | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        """Create the state handle and load the model bundle (rules only without one)."""
        self._state = runtime_context.get_state(ValueStateDescriptor("customer_state", Types.PICKLED_BYTE_ARRAY()))
        self._bundle = load_bundle(self._model_path)

    def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Any:
        """Score one event against the customer's state; yield it, and any alert to the side output."""
        stored = self._state.value()
        state = CustomerState.from_bytes(stored) if stored is not None else None
        decision = score_event(
            state,
            value,
            self._rules,
            self._bundle,
            rules_only_threshold=self._rules_only_threshold,
            scored_at=utc_now(),
        )
        self._state.update(decision.state.to_bytes())
        yield to_json(decision.scored)
        if decision.alert is not None:
            yield ALERTS, to_json(decision.alert)


def load_bundle(path: str | None) -> ModelBundle | None:
    """The model bundle, or ``None`` (rules only) when there is none, said loudly."""
    if not path:
        logger.warning("No model bundle configured: scoring with rules only")
        return None
    try:
        return ModelBundle.load(path)
    except ModelError as error:
        logger.error("Model bundle unusable (%s): %s; scoring with rules only", error.code, error)
        return None


def build_job(
    env: StreamExecutionEnvironment, config: StreamConfig, *, input_path: Path, output_dir: Path, model_path: str | None
) -> None:
    """Wire source, parse, key by customer, score and the three sinks into ``env``."""
    model_version = (
        ModelBundle.load(model_path).manifest.model_version
        if model_path and _usable(model_path)
        else RULES_ONLY_VERSION
    )
    source = FileSource.for_record_stream_format(StreamFormat.text_line_format(), str(input_path)).build()
    lines = env.from_source(source, WatermarkStrategy.no_watermarks(), "raw-events").uid("raw-events")
    events = (
        lines.process(
            ParseEvents(config.contract, str(input_path), model_version), output_type=Types.PICKLED_BYTE_ARRAY()
        )
        .uid("parse-events")
        .name("parse-events")
    )
    scored = (
        events.key_by(lambda event: event.customer_id, key_type=Types.STRING())
        .process(
            ScoreEvents(config.rules, model_path, float(config.job.get("rules_only_threshold", 0.5))),
            output_type=Types.STRING(),
        )
        .uid("score-events")
        .name("score-events")
    )
    _sink(scored, output_dir / "scored", "scored")
    _sink(scored.get_side_output(ALERTS), output_dir / "alerts", "alerts")
    _sink(events.get_side_output(DEAD_LETTERS), output_dir / "dlq", "dlq")


def _usable(model_path: str | None) -> bool:
    return bool(model_path) and (Path(str(model_path)) / "manifest.json").is_file()


def _sink(stream: Any, folder: Path, name: str) -> None:
    file_config = OutputFileConfig.builder().with_part_prefix(name).with_part_suffix(".jsonl").build()
    sink = (
        FileSink.for_row_format(str(folder), Encoder.simple_string_encoder())
        .with_output_file_config(file_config)
        .build()
    )
    stream.sink_to(sink).uid(f"sink-{name}").name(f"sink-{name}")


def local_environment(config: StreamConfig) -> StreamExecutionEnvironment:
    """A local MiniCluster environment in the configured Python execution mode.

    In ``thread`` mode the Python functions run in an interpreter embedded in the JVM,
    where numba's JIT hangs (seen with PyFlink 2.3); the bundle then walks its trees in
    plain Python. ``process`` mode keeps numba.
    """
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"  # the Python workers find pyflink
    mode = str(config.job.get("python_execution_mode", "thread"))
    if mode == "thread":
        os.environ["NUMBA_DISABLE_JIT"] = "1"  # inherited by the JVM and its embedded interpreter
    flink = Configuration()
    flink.set_string("python.execution-mode", mode)
    flink.set_string("python.executable", sys.executable)
    flink.set_string("python.client.executable", sys.executable)
    env = StreamExecutionEnvironment.get_execution_environment(flink)
    env.set_runtime_mode(RuntimeExecutionMode.STREAMING)
    env.set_parallelism(int(config.job.get("parallelism", 1)))
    return env
