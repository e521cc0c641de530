"""Performance figures beside their targets and baselines: ``make bench``.

Prints medians over repeated runs (the machines are shared and noisy). Not a test:
nothing here fails a build; the figures go into issue notes.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pandas as pd
from kedro_datasets.partitions import PartitionedDataset

from streamflow.core import (
    FEATURE_NAMES,
    ContractConfig,
    Event,
    EventError,
    RulesConfig,
    parse_event,
    process_event,
)
from streamflow.devtools.scratch import dispose_cached_sql_engines, make_scratch_project
from streamflow.generator import GeneratorConfig, generate_stream

GENERATION_TARGET_S = 30.0
MEDALLION_TARGET_S = 60.0  # bronze to gold on SQLite...
MEDALLION_TARGET_EVENTS = 1_000_000  # ...for this many generated events
TRAIN_TARGET_S = 120.0  # make train (medallion, outcomes, features, training, packaging, evaluation; issue 21)...
TRAIN_TARGET_EVENTS = 1_000_000  # ...on this many landed events with their outcomes
REPLAY_TARGET_EVENTS_PER_S = 200_000  # the batch feature replay over landed history (issue 22)
# The Python replay before one definition (process_event per event, commit 1dbacd3), measured with
# bench_replay's code on 1,000,384 generated events on this class of machine: 33.4 s.
REPLAY_BASELINE_EVENTS_PER_S = 30_000
REPO_ROOT = Path(__file__).resolve().parents[3]
SAMPLE_EVENT = {
    "schema_version": 1,
    "transaction_id": "T20260101-42-000000001",
    "customer_id": "C0013157",
    "card_id": "K0013157-1",
    "store_id": "S00212",
    "product_id": "P00028",
    "amount": 58.53,
    "currency": "NZD",
    "timestamp": "2026-01-01T00:01:33+13:00",
    "latitude": -36.878841,
    "longitude": 174.756775,
    "channel": "pos",
}


def _median_seconds(action: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), runs


def _micros_per_call(action: Callable[[], object], *, number: int, repeats: int) -> float:
    return statistics.median(timeit.repeat(action, number=number, repeat=repeats)) / number * 1e6


def bench_generation(n_events: int, repeats: int) -> None:
    """Generate ``n_events`` and write them as the catalog does (daily JSON-lines files)."""
    config = GeneratorConfig.from_dict({"n_events": n_events}, ["S00007", "S00042", "S00311"])

    def generate_and_write() -> None:
        with tempfile.TemporaryDirectory() as folder:
            stream = generate_stream(config, ContractConfig())
            dataset = PartitionedDataset(path=folder, dataset="text.TextDataset", filename_suffix=".jsonl")
            dataset.save(stream.partitions)
            assert sum(1 for _ in Path(folder).glob("*.jsonl")) == len(stream.partitions)

    median, runs = _median_seconds(generate_and_write, repeats)
    target = GENERATION_TARGET_S * n_events / 1_000_000
    verdict = "OK" if median < target else "OVER TARGET"
    print(f"generate + write {n_events:,} events   median {median:6.2f} s   target < {target:.1f} s   {verdict}")
    print(f"    runs: {', '.join(f'{run:.2f}' for run in runs)} s;  {n_events / median:,.0f} events/s")


def bench_core(repeats: int) -> None:
    """Per-event cost of the core against the bare ``json.loads`` floor."""
    raw = json.dumps(SAMPLE_EVENT)
    event = parse_event(raw)
    rules = RulesConfig.from_dict({})
    state = None
    for _ in range(30):
        _, state = process_event(state, event, rules)
    floor = _micros_per_call(lambda: json.loads(raw), number=20_000, repeats=repeats)
    parse = _micros_per_call(lambda: parse_event(raw), number=20_000, repeats=repeats)
    process = _micros_per_call(lambda: process_event(state, event, rules), number=20_000, repeats=repeats)
    print(
        f"parse_event            median {parse:6.1f} us/event   "
        f"baseline json.loads {floor:5.1f} us   ratio {parse / floor:.1f}x"
    )
    print(f"process_event          median {process:6.1f} us/event   (features + 5 rules + new state)")


def landed_events_frame(n_events: int) -> pd.DataFrame:
    """``n_events`` generated events, parsed, as silver holds them (with their file and line)."""
    config = GeneratorConfig.from_dict({"n_events": n_events}, ["S00007", "S00042", "S00311"])
    stream = generate_stream(config, ContractConfig())
    rows = []
    for name in sorted(stream.partitions):
        for number, line in enumerate(stream.partitions[name].splitlines(), start=1):
            try:
                event = parse_event(line)
            except EventError:
                continue
            rows.append((*event, name, number))
    return pd.DataFrame(rows, columns=[*Event._fields, "source_file", "line_number"])


def bench_replay(n_events: int, repeats: int) -> None:
    """The batch feature replay (``replay_features``: the core's compiled step) over landed history."""
    from streamflow.modeling.features import replay_features

    silver = landed_events_frame(n_events)
    rules = RulesConfig.from_dict({})
    median, _ = _median_seconds(lambda: replay_features(silver, rules), repeats)
    rate = len(silver) / median
    print(
        f"feature replay {len(silver):>9,} events  median {median:6.2f} s   {rate:,.0f} events/s   "
        f"target >= {REPLAY_TARGET_EVENTS_PER_S:,}   "
        f"{'OK' if rate >= REPLAY_TARGET_EVENTS_PER_S else 'UNDER TARGET'}   "
        f"baseline (the Python replay before one definition) {REPLAY_BASELINE_EVENTS_PER_S:,}/s   "
        f"ratio {rate / REPLAY_BASELINE_EVENTS_PER_S:.1f}x"
    )


def bench_model(repeats: int) -> None:
    """The bundle scorer beside scikit-learn, single event and batch, and explanation cost."""
    import numpy as np
    import shap
    from sklearn.ensemble import IsolationForest

    from streamflow.medallion.bronze import ingest_files
    from streamflow.medallion.silver import run_silver
    from streamflow.modeling.features import replay_features
    from streamflow.modeling.packaging import build_bundle
    from streamflow.modeling.training import feature_matrix

    stream = generate_stream(GeneratorConfig.from_dict({"n_events": 50_000}, ["S00007"]), ContractConfig())
    files = {f"{day}.jsonl": text.encode() for day, text in stream.partitions.items()}
    now = pd.Timestamp.now(tz="UTC")
    silver = run_silver(ingest_files(files, now), ContractConfig()).silver
    features = feature_matrix(replay_features(silver, RulesConfig.from_dict({})), FEATURE_NAMES)
    forest = IsolationForest(n_estimators=100, random_state=42).fit(features)
    bundle = build_bundle(
        forest,
        model_version="bench",
        training_window={},
        training_rows=len(features),
        score_normalisation={"low": 0.4, "high": 0.8},
        alert_threshold=0.5,
        alpha=0.3,
    )
    rows = np.tile(features, (3, 1))[:100_000]
    one = rows[:1]
    bundle.score_samples(one)  # compile the serial and the parallel tree walks before timing
    bundle.score_samples(rows)
    single = _micros_per_call(lambda: bundle.score_samples(one), number=2_000, repeats=max(repeats, 5))
    sk_single = _micros_per_call(lambda: forest.score_samples(one), number=20, repeats=repeats)
    batch = _micros_per_call(lambda: bundle.score_samples(rows), number=1, repeats=repeats) / len(rows)
    sk_batch = _micros_per_call(lambda: forest.score_samples(rows), number=1, repeats=repeats) / len(rows)
    explain = _micros_per_call(lambda: bundle.top_contributions(tuple(one[0])), number=2_000, repeats=max(repeats, 5))
    explainer = shap.TreeExplainer(forest)
    tree_shap = _micros_per_call(lambda: explainer.shap_values(one), number=5, repeats=repeats)
    print(
        f"score 1 event          median {single:8.1f} us   scikit-learn {sk_single:10.1f} us   "
        f"x{sk_single / single:,.0f} faster   target <= 25 us   {'OK' if single <= 25 else 'OVER TARGET'}"
    )
    print(
        f"score batch of 100k    median {batch:8.2f} us/row   scikit-learn {sk_batch:8.2f} us/row   "
        f"x{sk_batch / batch:.1f}   target: at least as fast   {'OK' if batch <= sk_batch else 'SLOWER'}"
    )
    print(
        f"explain 1 alert        median {explain:8.1f} us   "
        f"(bundle path attribution; shap.TreeExplainer {tree_shap:,.0f} us)"
    )


def bench_medallion(sizes: list[int], repeats: int) -> None:
    """Bronze to gold (``kedro run --pipelines medallion``) on SQLite, fresh database each run."""
    medians: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            project = make_scratch_project(REPO_ROOT, Path(folder) / f"medallion-{size}")
            _run_pipeline(project, "generate", {"generate": {"n_events": size}})
            gold_db = project / "data/03_primary/gold.sqlite"

            def medallion(project: Path = project, gold_db: Path = gold_db) -> None:
                gold_db.unlink(missing_ok=True)
                _run_pipeline(project, "medallion", {})

            medians[size], runs = _median_seconds(medallion, repeats)
            target = (
                f"target < {MEDALLION_TARGET_S:.0f} s   {'OK' if medians[size] < MEDALLION_TARGET_S else 'OVER TARGET'}"
                if size == MEDALLION_TARGET_EVENTS
                else "(no target: scaling baseline)"
            )
            print(
                f"medallion {size:>9,} events  median {medians[size]:6.2f} s   {target}"
                f"   runs: {', '.join(f'{run:.1f}' for run in runs)} s;  {size / medians[size]:,.0f} events/s"
            )
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        ratio = medians[large] / medians[small]
        print(
            f"medallion scaling {large:,} / {small:,} events: time x{ratio:.1f} for data x{large / small:.0f} "
            f"(linear = x{large / small:.0f})"
        )


def bench_train(n_events: int, repeats: int) -> None:
    """``make train`` end to end on landed events and outcomes (``--pipelines train``); then the evaluation alone."""
    with tempfile.TemporaryDirectory() as folder:
        project = make_scratch_project(REPO_ROOT, Path(folder) / "train")
        _run_pipeline(project, "generate", {"generate": {"n_events": n_events}})
        gold_db = project / "data/03_primary/gold.sqlite"

        def train() -> None:
            gold_db.unlink(missing_ok=True)
            _run_pipeline(project, "train", {})

        median, runs = _median_seconds(train, repeats)
        evaluation, _ = _median_seconds(lambda: _run_pipeline(project, "evaluation", {}), max(repeats, 3))
    target = TRAIN_TARGET_S * n_events / TRAIN_TARGET_EVENTS
    print(
        f"make train {n_events:>9,} events  median {median:6.1f} s   target < {target:.0f} s   "
        f"{'OK' if median < target else 'OVER TARGET'}   runs: {', '.join(f'{run:.1f}' for run in runs)} s"
    )
    print(f"    evaluation alone (the delay protocol's labels and metrics)  median {evaluation:6.2f} s")


def _run_pipeline(project: Path, name: str, params: dict[str, Any]) -> None:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.runner import SequentialRunner

    dispose_cached_sql_engines()
    bootstrap_project(project)
    previous = Path.cwd()
    os.chdir(project)
    try:
        with (
            KedroSession.create(project_path=project, runtime_params=params) as session,
            contextlib.redirect_stdout(io.StringIO()),  # the run summaries
        ):
            cast(KedroSession, session).run(pipeline_names=[name], runner=SequentialRunner())
    finally:
        os.chdir(previous)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="events to generate (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument(
        "--medallion-sizes", type=int, nargs="*", default=[100_000, 1_000_000], help="events per medallion run"
    )
    parser.add_argument("--train-events", type=int, default=1_000_000, help="landed events make train runs on")
    parser.add_argument("--train-repeats", type=int, default=1, help="runs of make train (each takes minutes)")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)  # Kedro's per-node logs would bury the figures
    print(
        f"StreamFlow benchmarks, medians of {args.repeats} runs "
        f"(python -m streamflow.devtools.bench {' '.join(sys.argv[1:] if argv is None else argv)})".replace(" )", ")")
    )
    bench_core(max(args.repeats, 5))
    bench_model(args.repeats)
    bench_replay(args.events, args.repeats)
    bench_generation(args.events, args.repeats)
    if args.medallion_sizes:
        bench_medallion(args.medallion_sizes, args.repeats)
    if args.train_events:
        bench_train(args.train_events, args.train_repeats)


if __name__ == "__main__":
    main()
