"""``python -m flink_app score``: run the scoring job and print what it did.

``python -m flink_app compile`` compiles the job's numba code into numba's cache (the image
build runs it, so that TaskManagers start without compiling).

Locally (``stream.io: files``): ``--input`` is a JSON-lines file or a folder of them, ``--output``
receives ``scored/``, ``alerts/`` and ``dlq/``, and the run's checkpoints go to ``--state-dir`` (by
default ``<output>/state``). ``--labels`` (a label file or a folder of them, CSV or JSON lines,
``docs/label_contract.md``) gives the job the known outcomes beside the events (ADR 0014). In Kafka
mode (``stream.io: kafka``; ``--env prod``) topics and servers come from ``conf/<env>/stream.yml``;
``--until-end`` reads the input topic up to its end at the start, then finishes (``make
kafka-demo``, tests, benchmark), and the outcomes come from the outcomes topic
(``stream.kafka.read_outcomes``).
With ``--savepoint-dir``, Ctrl-C or SIGTERM stops the job with a savepoint there (Flink's
stop-with-savepoint: what was read before it is committed) and prints its path, to resume from
with ``--recover-from`` (at another ``--parallelism`` if wanted).

Whatever stops a run is one line, ``error [code]: message``, and a non-zero exit: 2 when the
run was refused before the job started (config, bundle, input, output), 3 when the job started
and failed for good (its restarts, ``stream.restart``, used up), with the job's root cause.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from flink_app.config import (
    DEFAULT_CONF_DIR,
    KEYINGS,
    StreamConfig,
    checkpoint_uri,
    connector_path,
    load_config,
    project_path,
    resolve_model,
)
from flink_app.errors import JobFailedError, ModelRequiredError, SetupError, StreamCliError
from flink_app.job import (
    OutcomeInput,
    Outputs,
    build_job,
    compile_scoring,
    file_source,
    kafka_outcomes,
    kafka_source,
    stream_environment,
)
from flink_app.summary import LABELS_ORIGIN, LabelInput, OutputProgress, scan_input, scan_labels, summarize
from streamflow.core import CoreError

PROGRESS_SECONDS = 1.0
STOP_POLL_SECONDS = 0.2  # how often a run with --savepoint-dir looks for a stop request
DEFAULT_STATE_DIR = "data/09_stream_state"  # Kafka mode without --state-dir or stream.checkpoint.dir
PYTHON_EXCEPTION_PREFIX = "pemja.core.PythonException: "  # how a Python error in a task reaches the client


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="flink_app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    score = commands.add_parser("score", help="score a stream of transaction events")
    score.add_argument("--input", type=Path, help="a JSON-lines file or a folder of them (files mode)")
    score.add_argument("--output", type=Path, help="receives alerts/, scored/ and dlq/ (files mode)")
    score.add_argument(
        "--labels", type=Path, help="known outcomes: a label file or a folder of them, CSV or JSON lines (files mode)"
    )
    score.add_argument("--model", help="bundle folder, 'latest' or 'none' (rules only); default: stream.model.path")
    score.add_argument("--env", default="base", help="configuration environment under conf/ (default: base)")
    score.add_argument(
        "--conf-dir", type=Path, default=DEFAULT_CONF_DIR, help="the conf/ folder (default: the project's)"
    )
    score.add_argument("--follow", action="store_true", help="keep watching the --input folder for new files")
    score.add_argument(
        "--until-end",
        action="store_true",
        help="Kafka mode: read the input topic up to where it ends at the start, then finish (default: run on)",
    )
    score.add_argument(
        "--recover-from", help="a retained checkpoint (chk-N folder) or savepoint to restore state and positions from"
    )
    score.add_argument(
        "--state-dir",
        type=Path,
        help="the run's state: checkpoints go to STATE_DIR/checkpoints (default: OUTPUT/state)",
    )
    score.add_argument("--checkpoint-dir", help="the checkpoint folder or URI itself (overrides --state-dir)")
    score.add_argument(
        "--savepoint-dir",
        type=Path,
        help="on Ctrl-C or SIGTERM, stop the job with a savepoint in this folder and print its path (default: cancel)",
    )
    score.add_argument("--checkpoint-interval-ms", type=int, help="override stream.checkpoint.interval_ms")
    score.add_argument("--summary-file", type=Path, help="also write the summary to this file")
    score.add_argument("--require-model", action="store_true", help="fail at start without a usable model bundle")
    score.add_argument("--keying", choices=KEYINGS, help="override stream.keying: key lines in the JVM or in Python")
    score.add_argument(
        "--parallelism", type=_positive, help="override stream.parallelism (a restore may use another than the run had)"
    )
    compile_ = commands.add_parser("compile", help="compile the job's numba code into numba's cache (image builds)")
    compile_.add_argument("--model", help="bundle folder, 'latest' or 'none' (rules only); default: stream.model.path")
    compile_.add_argument("--env", default="base", help="configuration environment under conf/ (default: base)")
    compile_.add_argument("--conf-dir", type=Path, default=DEFAULT_CONF_DIR, help="the conf/ folder")
    return parser.parse_args(argv)


def check_java() -> None:
    """Flink needs a Java runtime (17): refuse to start without one."""
    java_home = os.environ.get("JAVA_HOME")
    if (java_home and Path(java_home, "bin", "java").exists()) or shutil.which("java"):
        return
    raise SetupError(
        "java_missing",
        "Java not found: Flink needs Java 17. Install it (apt-get install openjdk-17-jre-headless) or set JAVA_HOME.",
    )


def check_kafka_usage(args: argparse.Namespace) -> None:
    """Kafka mode reads and writes topics: file options are refused, not ignored; so is a bounded restore.

    A bounded Kafka source restored from a checkpoint or savepoint reads to its end and then never
    finishes (FLINK-31006, open in flink-sql-connector-kafka 5.0.0-2.2): the job would hang, so
    ``--until-end`` with ``--recover-from`` is refused (a restored run goes on until stopped).
    """
    if args.input is not None or args.output is not None or args.follow:
        raise SetupError(
            "usage",
            "Kafka mode (stream.io: kafka) reads and writes the topics of stream.kafka.topics: "
            "drop --input, --output and --follow",
        )
    if args.until_end and args.recover_from:
        raise SetupError(
            "usage",
            "--until-end cannot follow --recover-from: the Kafka connector's bounded source never finishes "
            "after a restore (FLINK-31006); restore without --until-end, and stop the job (Ctrl-C) once "
            "the group's offsets reach the topic's end",
        )


def check_connector(config: StreamConfig) -> None:
    """Kafka mode needs Flink's Kafka connector jar where ``stream.kafka.connector_jar`` says."""
    jar = Path(connector_path(config.job.kafka))
    if not jar.is_file():
        raise SetupError(
            "kafka_connector_missing",
            f"the Kafka connector jar {jar} (stream.kafka.connector_jar) is not there: fetch it with "
            "`make kafka-artifacts` (tools/kafka/fetch), or point the setting at the jar",
        )


def writable_folder(path: Path, *, what: str) -> Path:
    """``path``, resolved, as a folder this process can write (created if missing); refused otherwise."""
    path = path.resolve()
    if path.exists() and not path.is_dir():
        raise SetupError("output_not_writable", f"{what} {path} is a file, not a folder: give a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as error:
        raise SetupError("output_not_writable", f"{what} {path} cannot be written: {error}") from error
    return path


def checkpoint_location(args: argparse.Namespace, config: StreamConfig, output_dir: Path | None) -> str:
    """Where this run checkpoints: the flags first, then ``stream.checkpoint.dir``, then with the run.

    A run's checkpoints go with the run, so two runs with different outputs never share them:
    ``--checkpoint-dir``, else ``--state-dir``/checkpoints, else the config's folder or URI, else
    ``<output>/state/checkpoints`` (Kafka mode: ``data/09_stream_state/checkpoints``). A local
    folder must be writable.
    """
    location: str
    if args.checkpoint_dir:
        location = str(args.checkpoint_dir)
    elif args.state_dir is not None:
        location = str(args.state_dir / "checkpoints")
    elif config.job.checkpoint.dir:
        location = config.job.checkpoint.dir
    elif output_dir is not None:
        location = str(output_dir / "state" / "checkpoints")
    else:
        location = str(Path(DEFAULT_STATE_DIR) / "checkpoints")
    if "://" in location:
        return location
    return str(writable_folder(Path(project_path(location, config.project_root)), what="the checkpoint folder"))


def choose_model(argument: str | None, config: StreamConfig) -> str | None:
    """The bundle folder to load, or ``None`` for rules only (said loudly, or refused if required)."""
    wanted = argument if argument is not None else config.job.model.path
    if wanted in (None, "", "none"):
        return None
    try:
        return resolve_model(wanted, Path(project_path(config.job.model.bundles_dir, config.project_root)))
    except FileNotFoundError as error:
        if config.job.model.required:
            raise ModelRequiredError(str(error)) from error
        print(f"WARNING: {error}. Scoring with rules only.", file=sys.stderr)
        return None


def root_cause(error: BaseException) -> str:
    """The innermost cause of a failed job, in one line: the Java exception chain's last link.

    A Python error raised in a task arrives as ``pemja.core.PythonException: <class 'X'>: ...``
    and is shown as ``X: ...``.
    """
    throwable: Any = getattr(error, "java_exception", None)
    if throwable is None:
        lines = str(error).strip().splitlines()
        return lines[-1] if lines else type(error).__name__
    cause: str = str(throwable.toString())
    while throwable.getCause() is not None:
        throwable = throwable.getCause()
        cause = str(throwable.toString())
    cause = cause.removeprefix(PYTHON_EXCEPTION_PREFIX).strip().splitlines()[0]
    if cause.startswith("<class '") and "'>: " in cause:
        name, message = cause.removeprefix("<class '").split("'>: ", 1)
        cause = f"{name}: {message}"
    return cause


def execute(env: Any, config: StreamConfig, savepoint_dir: Path | None = None) -> str | None:
    """Run the job to its end; with ``savepoint_dir``, until a stop request, then stop it with a savepoint.

    Returns the savepoint's path (``None``: the job ran to its end). A job that fails for good
    becomes a :class:`JobFailedError` with its root cause.
    """
    from py4j.protocol import Py4JError  # type: ignore[import-untyped]
    from pyflink.util.exceptions import JavaException

    try:
        if savepoint_dir is None:
            env.execute(config.job.job_name)
            return None
        return run_until_stopped(env, config.job.job_name, savepoint_dir)
    except (Py4JError, JavaException) as error:  # Py4JJavaError too
        restart = config.job.restart
        raise JobFailedError(
            f"the job failed for good (restart strategy {restart.strategy}, {restart.attempts} attempts): "
            f"{root_cause(error)}"
        ) from None


def run_until_stopped(env: Any, job_name: str, savepoint_dir: Path) -> str | None:
    """Run the job until it ends, or until SIGINT or SIGTERM: then stop it with a savepoint; its path.

    Flink's stop-with-savepoint: the sources stop, and the savepoint's checkpoint commits every
    record read before it, so a run resumed from the savepoint neither loses nor repeats one.
    """
    from py4j.protocol import Py4JError

    stop = threading.Event()
    handlers = {number: signal.signal(number, lambda *_: stop.set()) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        client = env.execute_async(job_name)
        result = client.get_job_execution_result()
        while not result.done():
            if stop.wait(STOP_POLL_SECONDS):
                try:
                    savepoint = stop_with_savepoint(client, savepoint_dir)
                except Py4JError:
                    if not result.done():
                        raise
                    break  # it had finished before the stop reached it: its own end, or its failure, below
                result.result()
                return savepoint
        result.result()  # raises when the job failed
        return None
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)


def stop_with_savepoint(client: Any, savepoint_dir: Path) -> str:
    """Stop the job with a savepoint in ``savepoint_dir`` (Flink's canonical format); the savepoint's path.

    Called on the Java client: PyFlink's own ``JobClient.stop_with_savepoint`` still has Flink 1's
    signature, which Flink 2 no longer has.
    """
    from pyflink.java_gateway import get_gateway

    canonical = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType.CANONICAL
    return str(client._j_job_client.stopWithSavepoint(False, savepoint_dir.resolve().as_uri(), canonical).get())


def execute_with_progress(
    env: Any, config: StreamConfig, total: int | None, folders: list[Path], savepoint_dir: Path | None = None
) -> str | None:
    """Run the job with a progress bar of events scored or dead-lettered (from the outputs); ``execute``'s result."""
    written = OutputProgress(folders)
    finished = threading.Event()
    with tqdm(total=total, desc="stream", unit="event", unit_scale=True, file=sys.stderr) as progress:

        def follow_outputs() -> None:
            while not finished.wait(PROGRESS_SECONDS):
                progress.update(written.lines() - progress.n)

        watcher = threading.Thread(target=follow_outputs, daemon=True)
        watcher.start()
        try:
            return execute(env, config, savepoint_dir)
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
            return None
        finally:
            finished.set()
            watcher.join()
            progress.update(written.lines() - progress.n)


def compile_command(args: argparse.Namespace) -> int:
    """Compile the scoring code for the chosen bundle into numba's cache (no Flink, no Java)."""
    config = load_config(args.conf_dir, args.env)
    version = compile_scoring(config, choose_model(args.model, config))
    cache = os.environ.get("NUMBA_CACHE_DIR") or "__pycache__ beside the sources"
    cpu = os.environ.get("NUMBA_CPU_NAME") or "this machine's CPU"
    print(f"Compiled the scoring code ({version}) into numba's cache: {cache}, for {cpu}")
    return 0


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def score_command(args: argparse.Namespace) -> int:
    """Check what can be checked, run the job, print the summary; 1 when an event was lost or doubled."""
    check_java()
    config = load_config(args.conf_dir, args.env).overridden(
        checkpoint_interval_ms=args.checkpoint_interval_ms,
        model_required=True if args.require_model else None,
        keying=args.keying,
        parallelism=args.parallelism,
    )
    files_mode = config.job.io == "files"
    output_dir = None
    if files_mode:
        if args.input is None or args.output is None:
            raise SetupError("usage", "files mode needs --input (a file or folder) and --output (a folder)")
        if not args.input.exists():
            raise SetupError("input_missing", f"--input {args.input} does not exist")
        if args.until_end:
            raise SetupError("usage", "--until-end is for Kafka mode (stream.io: kafka); files mode ends by itself")
        if args.labels is not None and not args.labels.exists():
            raise SetupError("labels_missing", f"--labels {args.labels} does not exist")
        output_dir = writable_folder(args.output, what="--output")
    else:
        if args.labels is not None:
            raise SetupError("usage", "--labels is for files mode; Kafka mode reads stream.kafka.outcomes_topic")
        check_kafka_usage(args)
        check_connector(config)
    config = config.with_checkpoint_dir(checkpoint_location(args, config, output_dir))
    model = choose_model(args.model, config)
    env = stream_environment(config.job, recover_from=args.recover_from)
    labels, outcomes = None, None
    if output_dir is not None:
        stream_input = scan_input(args.input.resolve(), count=not args.follow)
        for error in stream_input.rejected.values():
            print(f"WARNING [{error.code}]: {error} (not read)", file=sys.stderr)
        if not stream_input.files and not args.follow:
            raise SetupError("input_empty", f"--input {args.input} holds no *.jsonl or *.jsonl.gz file to read")
        follow = 1.0 if args.follow else None
        first = None
        if args.labels is not None:  # read first: every outcome is known before any event comes (ADR 0014)
            labels, label_files = label_input(args.labels, output_dir)
            first, outcomes = (f"{LABELS_ORIGIN}{args.labels}", label_files), OutcomeInput((LABELS_ORIGIN,))
        events = [args.input.resolve()] if args.follow else stream_input.files
        source = file_source(env, events, follow_seconds=follow, first=first)
        outputs = Outputs(*(str(output_dir / name) for name in ("scored", "alerts", "dlq")))
        source_name = str(args.input)
    else:
        topics = config.job.kafka.topics
        source = kafka_source(env, config.job, until_end=args.until_end)
        outputs = Outputs(topics["scored"], topics["alerts"], topics["dead_letters"])
        source_name = f"kafka:{topics['transactions']}"
        outcomes = kafka_outcomes(config.job.kafka)
    model_version, model_problem = build_job(
        env,
        config,
        source=source,
        source_name=source_name,
        outputs=outputs,
        model=model,
        outcomes=outcomes,
    )
    if model_problem is not None:
        print(
            f"WARNING [{model_problem.code}]: {model_problem}. Scoring with RULES ONLY "
            "(stream.model.required is false; --require-model refuses to start instead).",
            file=sys.stderr,
        )
    print(
        f"Scoring with {model_version}; checkpoints in {checkpoint_uri(config.job.checkpoint)}"
        + (" (watching for new files; Ctrl-C stops)" if args.follow else ""),
        flush=True,
    )
    started = time.perf_counter()
    if output_dir is None:
        print_savepoint(execute(env, config, args.savepoint_dir))
        return 0
    total = None if args.follow else stream_input.lines
    savepoint = execute_with_progress(
        env, config, total, [output_dir / "scored", output_dir / "dlq"], args.savepoint_dir
    )
    if args.follow:  # files landed while it ran: list and count them at the end
        stream_input = scan_input(args.input.resolve())
    summary = summarize(
        stream_input,
        output_dir,
        seconds=time.perf_counter() - started,
        model_version=model_version if model_problem is None else f"{model_version} ({model_problem.code})",
        labels=labels,
        outcomes_used=bool(config.features.feature_set.outcome_names),
    )
    if savepoint is not None:
        summary = replace(summary, stopped_at=savepoint)
    print(summary.render())
    print_savepoint(savepoint)
    if args.summary_file:
        args.summary_file.parent.mkdir(parents=True, exist_ok=True)
        args.summary_file.write_text(summary.render() + "\n", encoding="utf-8")
    return 0 if summary.balanced or savepoint is not None else 1


def label_input(path: Path, output_dir: Path) -> tuple[LabelInput, list[Path]]:
    """``--labels`` as the job reads it: each label file's records as JSON lines, in ``<output>/state/labels``.

    CSV rows become JSON objects (``core.outcomes.label_lines``), so one parser reads both forms;
    the files are read once, at the start. A file the contract does not read is reported.
    """
    labels = scan_labels(path.resolve())
    for name, error in labels.rejected.items():
        print(f"WARNING [{error.code}]: {name}: {error} (not read)", file=sys.stderr)
    folder = output_dir / "state" / "labels"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    files = []
    for index, lines in enumerate(labels.files.values()):
        files.append(folder / f"labels-{index:05d}.jsonl")
        files[-1].write_bytes(b"".join(line + b"\n" for line in lines))
    if not files:
        raise SetupError("labels_empty", f"--labels {path} holds no label file to read (*.csv, *.jsonl, .gz)")
    return labels, files


def print_savepoint(savepoint: str | None) -> None:
    """Say where a stopped run's savepoint is, and how to resume from it."""
    if savepoint is not None:
        print(f"Stopped with a savepoint: {savepoint}\nResume with: --recover-from {savepoint}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run a command; a coded error is printed as one line (``error [code]: message``) with its exit code."""
    args = parse_arguments(argv)
    try:
        return compile_command(args) if args.command == "compile" else score_command(args)
    except StreamCliError as error:
        print(f"error [{error.code}]: {error}", file=sys.stderr)
        return error.exit_code
    except CoreError as error:  # config and bundle errors: refused before the job started
        print(f"error [{error.code}]: {error}", file=sys.stderr)
        return SetupError.exit_code


if __name__ == "__main__":
    sys.exit(main())
