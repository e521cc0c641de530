"""``python -m flink_app score``: run the scoring job and print what it did.

``python -m flink_app compile`` compiles the job's numba code into numba's cache (the image
build runs it, so that TaskManagers start without compiling).

Locally (``stream.io: files``): ``--input`` is a JSON-lines file or a folder of them,
``--output`` receives ``scored/``, ``alerts/`` and ``dlq/``. In production
(``--env prod``, ``stream.io: kafka``) topics and servers come from ``conf/prod/stream.yml``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from flink_app.config import (
    DEFAULT_CONF_DIR,
    KEYINGS,
    StreamConfig,
    checkpoint_uri,
    load_config,
    project_path,
    resolve_model,
)
from flink_app.job import (
    ModelRequiredError,
    Outputs,
    build_job,
    compile_scoring,
    file_source,
    kafka_source,
    stream_environment,
)
from flink_app.summary import OutputProgress, count_lines, input_files, summarize

EXIT_USAGE = 2
PROGRESS_SECONDS = 1.0


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="flink_app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    score = commands.add_parser("score", help="score a stream of transaction events")
    score.add_argument("--input", type=Path, help="a JSON-lines file or a folder of them (files mode)")
    score.add_argument("--output", type=Path, help="receives alerts/, scored/ and dlq/ (files mode)")
    score.add_argument("--model", help="bundle folder, 'latest' or 'none' (rules only); default: stream.model.path")
    score.add_argument("--env", default="base", help="configuration environment under conf/ (default: base)")
    score.add_argument("--follow", action="store_true", help="keep watching the --input folder for new files")
    score.add_argument(
        "--recover-from", help="a retained checkpoint (chk-N folder) or savepoint to restore state and positions from"
    )
    score.add_argument("--checkpoint-dir", help="override stream.checkpoint.dir (a folder or URI)")
    score.add_argument("--checkpoint-interval-ms", type=int, help="override stream.checkpoint.interval_ms")
    score.add_argument("--summary-file", type=Path, help="also write the summary to this file")
    score.add_argument("--require-model", action="store_true", help="fail at start without a usable model bundle")
    score.add_argument("--keying", choices=KEYINGS, help="override stream.keying: key lines in the JVM or in Python")
    compile_ = commands.add_parser("compile", help="compile the job's numba code into numba's cache (image builds)")
    compile_.add_argument("--model", help="bundle folder, 'latest' or 'none' (rules only); default: stream.model.path")
    compile_.add_argument("--env", default="base", help="configuration environment under conf/ (default: base)")
    return parser.parse_args(argv)


def java_problem() -> str | None:
    """Why Flink cannot start here, or ``None``: it needs a Java runtime (17)."""
    java_home = os.environ.get("JAVA_HOME")
    if (java_home and Path(java_home, "bin", "java").exists()) or shutil.which("java"):
        return None
    return "Java not found: Flink needs Java 17. Install it (apt-get install openjdk-17-jre-headless) or set JAVA_HOME."


def choose_model(argument: str | None, config: StreamConfig) -> str | None:
    """The bundle folder to load, or ``None`` for rules only (said loudly, or refused if required)."""
    wanted = argument if argument is not None else config.job.model.path
    if wanted in (None, "", "none"):
        return None
    try:
        return resolve_model(wanted, Path(project_path(config.job.model.bundles_dir)))
    except FileNotFoundError as error:
        if config.job.model.required:
            raise ModelRequiredError(str(error)) from error
        print(f"WARNING: {error}. Scoring with rules only.", file=sys.stderr)
        return None


def execute_with_progress(env: Any, job_name: str, total: int | None, folders: list[Path]) -> None:
    """Run the job with a progress bar of events scored or dead-lettered (read from the outputs)."""
    written = OutputProgress(folders)
    finished = threading.Event()
    with tqdm(total=total, desc="stream", unit="event", unit_scale=True, file=sys.stderr) as progress:

        def follow_outputs() -> None:
            while not finished.wait(PROGRESS_SECONDS):
                progress.update(written.lines() - progress.n)

        watcher = threading.Thread(target=follow_outputs, daemon=True)
        watcher.start()
        try:
            env.execute(job_name)
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
        finally:
            finished.set()
            watcher.join()
            progress.update(written.lines() - progress.n)


def compile_command(args: argparse.Namespace) -> int:
    """Compile the scoring code for the chosen bundle into numba's cache (no Flink, no Java)."""
    config = load_config(DEFAULT_CONF_DIR, args.env)
    try:
        version = compile_scoring(config, choose_model(args.model, config))
    except ModelRequiredError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    cache = os.environ.get("NUMBA_CACHE_DIR") or "__pycache__ beside the sources"
    cpu = os.environ.get("NUMBA_CPU_NAME") or "this machine's CPU"
    print(f"Compiled the scoring code ({version}) into numba's cache: {cache}, for {cpu}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the job; print the summary; non-zero when an event was lost or the set-up is wrong."""
    args = parse_arguments(argv)
    if args.command == "compile":
        return compile_command(args)
    problem = java_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    config = load_config(DEFAULT_CONF_DIR, args.env)
    config = config.overridden(
        checkpoint_dir=args.checkpoint_dir,
        checkpoint_interval_ms=args.checkpoint_interval_ms,
        model_required=True if args.require_model else None,
        keying=args.keying,
    )
    files_mode = config.job.io == "files"
    if files_mode and (args.input is None or args.output is None or not args.input.exists()):
        print("error: files mode needs --input (an existing file or folder) and --output", file=sys.stderr)
        return EXIT_USAGE
    env = stream_environment(config.job, recover_from=args.recover_from)
    if files_mode:
        inputs = input_files(args.input.resolve())
        follow = 1.0 if args.follow else None
        source = file_source([args.input.resolve()] if args.follow else inputs, follow_seconds=follow)
        output_dir = args.output.resolve()
        outputs = Outputs(*(str(output_dir / name) for name in ("scored", "alerts", "dlq")))
        source_name = str(args.input)
    else:
        topics = config.job.kafka.topics
        source = kafka_source(config.job)
        outputs = Outputs(topics["scored"], topics["alerts"], topics["dead_letters"])
        source_name = f"kafka:{topics['transactions']}"
    try:
        model = choose_model(args.model, config)
        model_version = build_job(env, config, source=source, source_name=source_name, outputs=outputs, model=model)
    except ModelRequiredError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"Scoring with {model_version}; checkpoints in {checkpoint_uri(config.job.checkpoint)}"
        + (" (watching for new files; Ctrl-C stops)" if args.follow else ""),
        flush=True,
    )
    started = time.perf_counter()
    if not files_mode:
        env.execute(config.job.job_name)
        return 0
    inputs = input_files(args.input.resolve())
    total = None if args.follow else count_lines(inputs)
    execute_with_progress(env, config.job.job_name, total, [output_dir / "scored", output_dir / "dlq"])
    if args.follow:  # files landed while it ran: list and count them at the end
        inputs = input_files(args.input.resolve())
    summary = summarize(
        inputs, output_dir, seconds=time.perf_counter() - started, model_version=model_version, events_in=total
    )
    print(summary.render())
    if args.summary_file:
        args.summary_file.parent.mkdir(parents=True, exist_ok=True)
        args.summary_file.write_text(summary.render() + "\n", encoding="utf-8")
    return 0 if summary.balanced else 1


if __name__ == "__main__":
    sys.exit(main())
