"""``python -m flink_app score --input PATH --output DIR [--model BUNDLE] [--env ENV]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from flink_app.config import DEFAULT_CONF_DIR, load_config, resolve_model
from flink_app.job import build_job, local_environment

DEFAULT_BUNDLES = DEFAULT_CONF_DIR.parent / "data" / "06_models" / "model_bundle"


def count_lines(path: Path) -> int:
    """Lines in a file, or in every visible file under a folder."""
    files = (
        [path] if path.is_file() else [p for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith(".")]
    )
    return sum(file.read_bytes().count(b"\n") for file in files)


def main(argv: list[str] | None = None) -> int:
    """Run the scoring job on a local MiniCluster and print a summary."""
    parser = argparse.ArgumentParser(prog="flink_app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    score = commands.add_parser("score", help="score a JSON-lines file or folder")
    score.add_argument("--input", type=Path, required=True, help="a JSON-lines file or a folder of them")
    score.add_argument("--output", type=Path, required=True, help="receives alerts/, scored/ and dlq/")
    score.add_argument(
        "--model", default=None, help="model bundle folder, or 'latest' (the newest packaged one); omit for rules only"
    )
    score.add_argument("--env", default="base", help="configuration environment under conf/")
    args = parser.parse_args(argv)
    if not args.input.exists():
        parser.error(f"--input {args.input} does not exist")
    config = load_config(DEFAULT_CONF_DIR, args.env)
    try:
        model = resolve_model(args.model, DEFAULT_BUNDLES)
    except FileNotFoundError as error:
        parser.error(str(error))
    env = local_environment(config)
    build_job(env, config, input_path=args.input.resolve(), output_dir=args.output.resolve(), model_path=model)
    start = time.perf_counter()
    env.execute("streamflow-scoring")
    elapsed = time.perf_counter() - start
    events_in = count_lines(args.input)
    counts = {
        name: count_lines(args.output / name) if (args.output / name).exists() else 0
        for name in ("scored", "alerts", "dlq")
    }
    print(
        f"Stream summary: events in {events_in:,}, scored {counts['scored']:,}, alerts {counts['alerts']:,}, "
        f"dead-lettered {counts['dlq']:,}; {events_in / elapsed:,.0f} events/s; "
        f"model {model or 'none (rules only)'}"
    )
    return 0 if events_in == counts["scored"] + counts["dlq"] else 1


if __name__ == "__main__":
    sys.exit(main())
