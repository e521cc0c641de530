"""Stream throughput on one input, three ways, each on its own local MiniCluster.

(a) a bare keyed counter, keyed as the job is (the framework's own ceiling for a keyed Python
function here), (b) the scoring job with rules and the model bundle (a LightGBM champion decides,
the forest's blend is its challenger) and the label input (the stream's known outcomes, ADR 0014),
(e) the two-entity job (``TWO_ENTITY_FEATURES``: merchant features too, so a customer stage and a
merchant stage, ADR 0012), (d) the same job from Kafka to Kafka, exactly-once, on a local broker,
with the end-to-end latency of its alerts (``kafka_benchmark``), (c) the same job scoring each event
with scikit-learn's ``score_samples`` (the naive design; not run by default: importing scikit-learn
deadlocks in PyFlink's embedded interpreter, so the (c) ceiling, one ``score_samples`` call, stands
in for it). Also the job's own Python work outside Flink, which bounds (b).
Run by ``make bench``:
``python -m streamflow.devtools.stream_benchmark --events 200000 --repeats 5``.
It imports the job (``flink_app``); the job never imports it.

Rates are events / Flink's net job runtime (task start-up included, client and
MiniCluster start-up not), and events / the steady time from the first event processed to
the last (start-up left out: what a long-running job sustains). Each variant runs in a
fresh process, so one JVM's warm-up does not help the next.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from flink_app.config import DEFAULT_CONF_DIR, StreamConfig, load_config
from flink_app.job import (
    OutcomeInput,
    Outputs,
    ScoreEvents,
    ScoreMiniBatches,
    ScoringFunction,
    _file_sink,
    build_job,
    compile_scoring,
    file_source,
    stream_environment,
)
from flink_app.kafka_broker import LocalKafka
from flink_app.keying import cut_batches, key_by_customer, landed_routing_key
from flink_app.summary import LABELS_ORIGIN
from numpy.typing import NDArray
from pyflink.common import Types, WatermarkStrategy
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from streamflow.core import FEATURE_NAMES, ContractConfig, FeaturesConfig
from streamflow.core.forest import ModelBundle
from streamflow.core.landing import split_lines
from streamflow.devtools.kafka_benchmark import committed_alerts, measure_latency, prepare_topics, run_kafka
from streamflow.generator import GeneratorConfig, generate_stream

MODULE = "streamflow.devtools.stream_benchmark"  # each variant runs in a fresh process: python -m MODULE
VARIANTS = ("counter", "job", "merchants", "kafka", "sklearn")
# scikit-learn takes milliseconds per single-row call: (c) reads the first lines of the same input
INPUT_FILES = {
    "counter": "events.jsonl",
    "job": "events.jsonl",
    "merchants": "events.jsonl",
    "kafka": "events.jsonl",
    "sklearn": "events_head.jsonl",
}
LABELS_FILE = "labels.jsonl"  # the stream's known outcomes, read beside the events by (b) and (e)
# the job's six features and the merchant's count and mean amount over the hour, the day and the week
TWO_ENTITY_FEATURES = (
    *FEATURE_NAMES,
    *(f"merchant_{aggregate}_{window}" for window in ("1h", "1d", "7d") for aggregate in ("count", "amount_mean")),
)
# job/sklearn against the (c) ceiling unless (c) runs
GOALS = {"job/counter": 0.5, "merchants/counter": 0.5, "job/sklearn": 20.0}
RATIOS = (
    "merchants/job",
    "kafka/counter",
    "kafka/job",
)  # (d) beside (a) and (b): what Kafka in and out, exactly-once, costs
CACHE_FLUSH_BYTES = 4 << 20  # twice a core's L2 here: written between events for the cold-cache figure
COLD_LINES = 20_000
CHAMPION_ROUNDS = 100  # the jobs' bundles hold a champion of at most this many trees (the challenger: 100 trees)
# The job writes ~100 MB of scored records (the counter ~3 MB): on a slow disk, the file sinks'
# writes stall the scoring task, and the disk, not Flink, sets (b). In production they go to Kafka.
RAM_DISK = Path("/dev/shm")  # nosec B108 - the parent of a private mkdtemp folder, never a file name


class CountPerKey(KeyedProcessFunction):  # type: ignore[misc]
    """The bare keyed counter: one ``ValueState`` read and write and one output per event.

    With ``steady_file``, ``close`` writes there the seconds from the first event to the end.
    """

    def __init__(self, steady_file: str | None = None) -> None:
        self._steady_file = steady_file
        self._first_event_at = 0.0

    def open(self, runtime_context: RuntimeContext) -> None:
        """Create the state handle."""
        self._count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

    def process_element(self, value: str, ctx: KeyedProcessFunction.Context) -> Any:
        """Count the key's events; emit the count."""
        if not self._first_event_at:
            self._first_event_at = time.time()
        count = (self._count.value() or 0) + 1
        self._count.update(count)
        yield f"{ctx.get_current_key()},{count}"

    def close(self) -> None:
        """Write the steady seconds."""
        if self._steady_file and self._first_event_at:
            Path(self._steady_file).write_text(str(time.time() - self._first_event_at), encoding="utf-8")


class SklearnBundle(ModelBundle):
    """A bundle whose score comes from the scikit-learn forest, one ``score_samples`` call per event."""

    def __init__(self, bundle: ModelBundle, forest: Any) -> None:
        super().__init__(bundle.manifest, bundle.arrays)
        self._forest = forest

    def score_samples(self, features: NDArray[Any]) -> NDArray[np.float64]:
        """scikit-learn's own ``score_samples``."""
        scores: NDArray[np.float64] = self._forest.score_samples(np.atleast_2d(features))
        return scores


def run_variant(variant: str, workdir: Path, output_dir: Path) -> tuple[float, float]:
    """Run one variant to the end; Flink's net runtime and the steady time (first event to last), in seconds."""
    config = load_config(DEFAULT_CONF_DIR).with_checkpoint_dir(str(output_dir / "checkpoints"))
    env = stream_environment(config.job)
    input_file = workdir / INPUT_FILES[variant]
    labelled = variant in ("job", "merchants")  # the jobs read the label input first (ADR 0014)
    labels = (f"{LABELS_ORIGIN}{workdir / LABELS_FILE}", [workdir / LABELS_FILE]) if labelled else None
    source = file_source(env, [input_file], first=labels)
    if variant == "counter":
        lines = env.from_source(source, WatermarkStrategy.no_watermarks(), "raw-events", Types.STRING())
        keyed = key_by_customer(env, lines, config.job.keying)  # keyed as the job is
        counts = keyed.process(CountPerKey(str(output_dir / "steady.txt")), output_type=Types.STRING())
        _file_sink(counts, str(output_dir / "scored"), "scored", config.job)
    else:
        model: Any = str(workdir / "bundle")
        if variant == "merchants":
            config, model = two_entity_config(config), str(workdir / "bundle-merchants")
        if variant == "sklearn":
            forest = pickle.loads((workdir / "forest.pkl").read_bytes())  # nosec B301 - pickled by prepare() in this run
            model = SklearnBundle(ModelBundle.load(workdir / "bundle"), forest)
        outputs = Outputs(*(str(output_dir / name) for name in ("scored", "alerts", "dlq")))
        outcomes = OutcomeInput((LABELS_ORIGIN,)) if labelled else None
        build_job(
            env, config, source=source, source_name=str(input_file), outputs=outputs, model=model, outcomes=outcomes
        )
    result = env.execute(f"bench-{variant}")
    net_seconds = float(result.get_net_runtime()) / 1000.0
    if variant == "counter":
        return net_seconds, float((output_dir / "steady.txt").read_text(encoding="utf-8"))
    return net_seconds, scoring_span_seconds(output_dir / "scored")


def two_entity_config(config: StreamConfig) -> StreamConfig:
    """``config`` with the model reading ``TWO_ENTITY_FEATURES``."""
    return replace(config, features=FeaturesConfig.from_dict({"model": list(TWO_ENTITY_FEATURES)}))


def scoring_span_seconds(scored_dir: Path) -> float:
    """Seconds between the first and the last ``scored_at`` of the scored records (millisecond stamps)."""
    stamps = [
        orjson.loads(line)["scored_at"]
        for part in scored_dir.rglob("*")
        if part.is_file()
        for line in part.read_bytes().splitlines()
    ]
    first, last = (datetime.fromisoformat(stamp) for stamp in (min(stamps), max(stamps)))
    return (last - first).total_seconds()


class _InMemoryValueState:
    """A ``ValueState`` kept in a dict, pickled as Flink's ``PICKLED_BYTE_ARRAY`` stores it."""

    def __init__(self) -> None:
        self.key = ""
        self._values: dict[str, bytes] = {}

    def value(self) -> Any:
        stored = self._values.get(self.key)
        return None if stored is None else pickle.loads(stored)  # nosec B301 - bytes this object pickled itself

    def update(self, value: Any) -> None:
        self._values[self.key] = pickle.dumps(value)


class _InMemoryMapState:
    """A ``MapState`` kept in a dict, values pickled as Flink's ``PICKLED_BYTE_ARRAY`` stores them."""

    def __init__(self) -> None:
        self._values: dict[str, bytes] = {}

    def get(self, key: str) -> Any:
        stored = self._values.get(key)
        return None if stored is None else pickle.loads(stored)  # nosec B301 - bytes this object pickled itself

    def put_all(self, values: dict[str, Any]) -> None:
        self._values.update((key, pickle.dumps(value)) for key, value in values.items())


class _NoMetrics:
    """Accepts the metric registrations and updates ``ScoreEvents`` makes, and drops them."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self


class InMemoryContext:
    """Just enough of Flink's runtime and process contexts to run ``ScoreEvents`` (and mini-batches) without Flink."""

    def __init__(self) -> None:
        self.state = _InMemoryValueState()
        self.map_state = _InMemoryMapState()

    def get_state(self, descriptor: Any) -> _InMemoryValueState:
        """The one value state, whatever the descriptor."""
        return self.state

    def get_map_state(self, descriptor: Any) -> _InMemoryMapState:
        """The one map state, whatever the descriptor."""
        return self.map_state

    def get_metrics_group(self) -> _NoMetrics:
        """A metric group that drops what it is given."""
        return _NoMetrics()

    def get_current_key(self) -> str:
        """The key the line was routed by (the process function's context)."""
        return self.state.key


def python_work_seconds(workdir: Path, limit: int | None = None, *, flush_bytes: int = 0) -> float:
    """The scoring function's own Python work on the input (its first ``limit`` lines), outside Flink.

    The function the job runs (``ScoreMiniBatches`` on the batches ``MiniBatchLines`` would cut by
    count, or ``ScoreEvents`` one line at a time, as ``stream.keying`` says), state in a dict:
    whatever Flink adds comes on top, so ``1 / (1/a + this per event)`` bounds (b) from above.
    With ``flush_bytes``, that much memory is written between two calls (not timed), which
    pushes the function's code and data out of the CPU caches as the JVM's work between two
    calls does.
    """
    config = load_config(DEFAULT_CONF_DIR)
    landed = split_lines((workdir / INPUT_FILES["job"]).read_bytes())[:limit]
    lines = [line.decode("latin-1") for line in landed]  # as the job's reader carries them
    context = InMemoryContext()
    calls: list[Any]
    if config.job.keying == "mini_batch":
        function: ScoringFunction = ScoreMiniBatches(config, str(workdir / "bundle"), source="bench")
        batching = config.job.mini_batch
        calls = [("", batch) for batch in cut_batches(lines, batching.shards, batching.size)]
    else:
        function = ScoreEvents(config, str(workdir / "bundle"), source="bench")
        calls = [(landed_routing_key(line), line) for line in lines]
    function.open(context)
    scratch = (ctypes.c_char * max(flush_bytes, 1))()
    elapsed = 0
    for index, (key, value) in enumerate(calls):
        if flush_bytes:
            ctypes.memset(scratch, index & 0xFF, flush_bytes)
        context.state.key = key
        started = time.perf_counter_ns()
        for _ in function.process_element(value, context):
            pass
        elapsed += time.perf_counter_ns() - started
    return elapsed / 1e9


def prepare(workdir: Path, n_events: int, n_sklearn_events: int) -> dict[str, int]:
    """The input stream (and its head for (c)), a bundle and the same forest pickled; line counts."""
    config = GeneratorConfig.from_dict({"n_events": n_events, "days": 28}, ["S00007"])
    stream = generate_stream(config, ContractConfig())
    lines = [line for name in sorted(stream.partitions) for line in stream.partitions[name].splitlines()]
    head = lines[:n_sklearn_events]
    (workdir / INPUT_FILES["job"]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (workdir / INPUT_FILES["sklearn"]).write_text("\n".join(head) + "\n", encoding="utf-8")
    outcomes = stream.outcomes.drop(columns="pattern").to_dict("records")
    (workdir / LABELS_FILE).write_bytes(b"".join(orjson.dumps(outcome) + b"\n" for outcome in outcomes))
    _, forest = synthetic_bundle(
        workdir / "bundle",
        model_version="bench",
        n_trees=100,
        n_rows=5000,
        random_state=42,
        champion_rounds=CHAMPION_ROUNDS,
    )
    (workdir / "forest.pkl").write_bytes(pickle.dumps(forest))
    synthetic_bundle(
        workdir / "bundle-merchants",
        model_version="bench",
        n_trees=100,
        n_rows=5000,
        feature_names=TWO_ENTITY_FEATURES,
        champion_rounds=CHAMPION_ROUNDS,
    )
    return {
        "counter": len(lines),
        "job": len(lines),
        "merchants": len(lines),
        "kafka": len(lines),
        "sklearn": len(head),
    }


def synthetic_bundle(
    folder: Path,
    *,
    model_version: str,
    n_trees: int,
    n_rows: int,
    alert_threshold: float = 0.5,
    random_state: int = 0,
    feature_names: tuple[str, ...] = FEATURE_NAMES,
    champion_rounds: int = 0,
    champion_only: tuple[str, ...] = (),
) -> tuple[ModelBundle, Any]:
    """A bundle of a forest fitted on standard normal rows, saved to ``folder``; the bundle and the forest.

    For benchmarks and tests that need a model of a given size, not a trained one. With
    ``champion_rounds``, the bundle also holds a LightGBM champion of at most that many trees,
    trained on the same rows and on ``champion_only`` features, which the forest does not read
    (:func:`synthetic_champion`).
    """
    from sklearn.ensemble import IsolationForest

    from streamflow.datasets import ModelBundleDataset
    from streamflow.modeling.packaging import build_bundle, with_champion

    rows = np.random.default_rng(0).normal(size=(n_rows, len(feature_names) + len(champion_only)))
    forest = IsolationForest(n_estimators=n_trees, random_state=random_state).fit(rows[:, : len(feature_names)])
    bundle = build_bundle(
        forest,
        model_version=model_version,
        training_window={},
        training_rows=n_rows,
        score_normalisation={"low": 0.35, "high": 0.75},
        alert_threshold=alert_threshold,
        alpha=0.3,
        feature_names=feature_names,
    )
    if champion_rounds:
        champion = synthetic_champion(bundle, rows, champion_rounds, random_state, champion_only)
        bundle = with_champion(bundle, champion)
    ModelBundleDataset(filepath=str(folder)).save(bundle)
    return bundle, forest


def synthetic_champion(
    bundle: ModelBundle,
    rows: NDArray[np.float64],
    rounds: int,
    random_state: int,
    champion_only: tuple[str, ...] = (),
) -> Any:
    """A champion of ``rounds`` trees trained on ``rows`` over ten days, with random verdicts and noisy labels.

    ``rows`` holds the forest's features, then ``champion_only``. Fraud: more likely with a high
    first feature, a high last ``champion_only`` one, the velocity rule (``FR-002``) or a high forest score; a
    blacklist hit (``FR-005``) is the hard override. No fraud in the validation days, so nothing
    stops the boosting early: the champion has its full size.
    """
    import pandas as pd

    from streamflow.core.rules import RULE_IDS
    from streamflow.modeling.champion import ChampionParams, train_champion
    from streamflow.modeling.protocol import DAY_MS

    rng = np.random.default_rng(random_state + 1)
    forest_names = bundle.manifest.feature_names
    names = (*forest_names, *champion_only)
    frame = pd.DataFrame(rows, columns=list(names)).assign(
        **{rule_id: rng.random(len(rows)) < 0.05 for rule_id in RULE_IDS},
        rules_score=rng.random(len(rows)) * 0.6,
        ml_score=bundle.ml_scores(rows[:, : len(forest_names)]),
        event_time_ms=np.arange(len(rows), dtype=np.int64) * (10 * DAY_MS // len(rows)),
    )
    log_odds = 2.0 * frame[names[0]] + 2.0 * frame["FR-002"] + 4.0 * frame["ml_score"] - 5.0
    if champion_only:
        log_odds += frame[champion_only[-1]]
    is_fraud = rng.random(len(rows)) < 1.0 / (1.0 + np.exp(-log_odds.to_numpy(dtype=np.float64)))
    validation_days = 2.0
    is_fraud &= frame["event_time_ms"].to_numpy() < frame["event_time_ms"].max() - validation_days * DAY_MS
    params = ChampionParams(n_estimators=rounds, validation_days=validation_days, seed=random_state)
    return train_champion(frame, is_fraud, names, params)


def main(argv: list[str] | None = None) -> int:
    """Print the three rates, their ratios and the goals (medians over ``--repeats``)."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sklearn-events", type=int, default=10_000, help="lines (c) scores (it is slow)")
    parser.add_argument(
        "--variants",
        default="counter,job,merchants,kafka",
        help="which of counter,job,merchants,kafka,sklearn to run (sklearn: scipy deadlocks in thread mode; README)",
    )
    parser.add_argument(
        "--tmp-root",
        type=Path,
        default=RAM_DISK if RAM_DISK.is_dir() else None,
        help="where the input and the outputs go (default: a RAM disk when there is one; see README, Speed)",
    )
    parser.add_argument("--variant", choices=(*VARIANTS, "kafka-live"), help=argparse.SUPPRESS)  # in a child
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)  # the Kafka variants' broker and topics
    parser.add_argument("--suffix", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        output_dir = Path(tempfile.mkdtemp(dir=args.workdir))
        if args.variant in ("kafka", "kafka-live"):
            bounded = args.variant == "kafka"
            broker, suffix = args.bootstrap, args.suffix
            seconds, steady_seconds = run_kafka(args.workdir, output_dir, broker, suffix, until_end=bounded)
        else:
            seconds, steady_seconds = run_variant(args.variant, args.workdir, output_dir)
        print(json.dumps({"seconds": seconds, "steady_seconds": steady_seconds}))
        return 0
    print(f"  input and outputs under {args.tmp_root or tempfile.gettempdir()}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="stream-bench-", dir=args.tmp_root) as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        n_lines = prepare(workdir, args.events, args.sklearn_events)
        python_work_seconds(workdir, limit=1000)  # compiles the numba code into its cache, as an image build would
        compile_scoring(two_entity_config(load_config(DEFAULT_CONF_DIR)), str(workdir / "bundle-merchants"))
        chosen = [variant for variant in VARIANTS if variant in args.variants.split(",")]
        broker = stack.enter_context(LocalKafka(workdir / "kafka")) if "kafka" in chosen else None
        landed = split_lines((workdir / INPUT_FILES["kafka"]).read_bytes())
        rates: dict[str, list[float]] = {variant: [] for variant in chosen}
        steady: dict[str, list[float]] = {variant: [] for variant in chosen}
        python_us: list[float] = []
        cold_us: list[float] = []
        alerts = 0
        for _ in range(args.repeats):
            for variant in chosen:
                extra: list[str] = []
                if broker is not None and variant == "kafka":  # fresh topics, the same input produced into them
                    suffix = prepare_topics(broker.bootstrap_servers, landed)
                    extra = ["--bootstrap", broker.bootstrap_servers, "--suffix", suffix]
                net_seconds, steady_seconds = _child_run(variant, workdir, n_lines[variant], extra)
                rates[variant].append(n_lines[variant] / net_seconds)
                steady[variant].append(n_lines[variant] / steady_seconds)
                if broker is not None and extra:
                    alerts = committed_alerts(broker.bootstrap_servers, suffix)
            python_us.append(python_work_seconds(workdir) / n_lines["job"] * 1e6)
            cold_us.append(python_work_seconds(workdir, COLD_LINES, flush_bytes=CACHE_FLUSH_BYTES) / COLD_LINES * 1e6)
        sklearn_us = sklearn_call_us(workdir)
        walk_us, lightgbm_us, champion_trees = champion_row_us(workdir)
        latency = None
        if broker is not None:
            rate = statistics.median(rates["kafka"])
            print(f"  kafka latency: {len(landed):,} events produced at {rate:,.0f}/s", file=sys.stderr, flush=True)
            latency = measure_latency(workdir, broker.bootstrap_servers, landed, rate, expected_alerts=alerts)
    median = {variant: statistics.median(values) for variant, values in rates.items()}
    print(
        f"Stream throughput on {n_lines['job']:,} events, (c) on the first {n_lines['sklearn']:,} "
        f"(median of {args.repeats}; events / Flink net runtime, thread mode)"
    )
    names = (
        "(a) bare keyed counter",
        "(b) scoring job",
        "(e) two-entity job",
        "(d) job, Kafka to Kafka",
        "(c) job + sklearn",
    )
    labels = dict(zip(VARIANTS, names, strict=True))
    for variant in chosen:
        runs = ", ".join(f"{value:,.0f}" for value in rates[variant])
        print(f"  {labels[variant]:<24} {median[variant]:>10,.0f} events/s   runs: {runs}")
        runs = ", ".join(f"{value:,.0f}" for value in steady[variant])
        rate = statistics.median(steady[variant])
        print(f"  {'  steady':<24} {rate:>10,.0f} events/s   runs: {runs}  (first event to last)")
    work_us = statistics.median(python_us)
    print(
        f"  {'(b) Python work alone':<24} {work_us:>10,.1f} us/event outside Flink (the job's function, state in dicts)"
    )
    print(
        f"  {'  on cold caches':<24} {statistics.median(cold_us):>10,.1f} us/event, "
        f"{CACHE_FLUSH_BYTES >> 20} MiB written between calls (first {COLD_LINES:,} lines; see README, Speed)"
    )
    if "counter" in median:
        ceiling = 1e6 / (1e6 / median["counter"] + work_us)
        print(
            f"  {'(b) ceiling':<24} {ceiling:>10,.0f} events/s   = 1 / (1/(a) + Python work): "
            f"{ceiling / median['counter']:.2f} of (a) if Flink added nothing more"
        )
    if "sklearn" not in median:
        median["sklearn"] = 1e6 / sklearn_us
        print(
            f"  {'(c) ceiling':<24} {median['sklearn']:>10,.0f} events/s   = 1 / one score_samples call "
            f"({sklearn_us / 1000:.1f} ms, median, outside Flink): (c) cannot run faster"
        )
    print(
        f"  {'champion, per event':<24} {walk_us:>10,.2f} us: the compiled walk ({champion_trees} trees), "
        f"as the step runs it; LightGBM's Booster.predict, one row: {lightgbm_us:,.0f} us "
        f"({lightgbm_us / walk_us:,.0f}x)"
    )
    for name, goal in GOALS.items():
        top, bottom = name.split("/")
        if top in median and bottom in median:
            ratio = median[top] / median[bottom]
            verdict = "met" if ratio >= goal else "NOT met"
            paired = _paired(rates, top, bottom)
            print(f"  {name:<24} {ratio:>10.2f}          goal: at least {goal:g}  {verdict}{paired}")
    for top in ("job", "merchants"):
        if top in steady and "counter" in steady:
            ratio = statistics.median(steady[top]) / statistics.median(steady["counter"])
            print(f"  {top + '/counter steady':<24} {ratio:>10.2f}          {_paired(steady, top, 'counter').strip()}")
    for name in RATIOS:
        top, bottom = name.split("/")
        if top in median and bottom in median:
            print(f"  {name:<24} {median[top] / median[bottom]:>10.2f}         {_paired(rates, top, bottom)}")
    if latency is not None:
        print(
            f"  {'(d) alert latency':<24} p50 {latency.p50_ms / 1000:.2f} s, p99 {latency.p99_ms / 1000:.2f} s, "
            f"max {latency.max_ms / 1000:.2f} s: event produced -> alert committed, {latency.alerts:,} alerts, "
            f"{latency.events:,} events produced at {latency.rate:,.0f}/s (the (d) median), "
            f"checkpoints every {latency.checkpoint_interval_ms / 1000:g} s (exactly-once commits at each)"
        )
    return 0


def _paired(rates: dict[str, list[float]], top: str, bottom: str) -> str:
    """Each repeat's own ratio (its two runs ran back to back, on about the same machine load)."""
    if len(rates.get(top, [])) < 2 or len(rates.get(bottom, [])) != len(rates[top]):
        return ""
    return "   per repeat: " + ", ".join(f"{t / b:.2f}" for t, b in zip(rates[top], rates[bottom], strict=True))


def champion_row_us(workdir: Path, rows: int = 20_000, calls: int = 300) -> tuple[float, float, int]:
    """Microseconds a row: the champion's compiled walk (what the step runs per event), LightGBM's one-row predict.

    The walk is timed over ``rows`` rows in one call (per row, as the step pays it inside its own
    compiled call); LightGBM's ``Booster.predict`` one row a call, median of ``calls``. Also the
    champion's tree count.
    """
    import lightgbm

    bundle = ModelBundle.load(workdir / "bundle")
    champion = bundle.manifest.champion
    if champion is None or bundle.champion_model is None:
        raise ValueError("the benchmark bundle has no champion")
    inputs = np.random.default_rng(2).normal(size=(rows, len(champion.inputs)))
    bundle.champion_scores(inputs[:10])  # compiled
    started = time.perf_counter()
    bundle.champion_scores(inputs)
    walk_us = (time.perf_counter() - started) / rows * 1e6
    booster = lightgbm.Booster(model_str=bundle.champion_model)
    timings = []
    for row in inputs[:calls]:
        started = time.perf_counter()
        booster.predict(row.reshape(1, -1))
        timings.append((time.perf_counter() - started) * 1e6)
    return walk_us, statistics.median(timings), champion.n_trees


def sklearn_call_us(workdir: Path, calls: int = 300) -> float:
    """Median microseconds of one single-row scikit-learn ``score_samples`` call (the naive scorer)."""
    forest = pickle.loads((workdir / "forest.pkl").read_bytes())  # nosec B301 - pickled by prepare() in this run
    rows = np.random.default_rng(1).normal(size=(calls, forest.n_features_in_))
    timings = []
    for row in rows:
        started = time.perf_counter()
        forest.score_samples(row.reshape(1, -1))
        timings.append((time.perf_counter() - started) * 1e6)
    return statistics.median(timings)


def _child_run(variant: str, workdir: Path, n_lines: int, extra: list[str] | None = None) -> tuple[float, float]:
    command = [sys.executable, "-m", MODULE, "--variant", variant, "--workdir", str(workdir)]
    command += extra or []
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{variant} run failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    reply = json.loads(result.stdout.strip().splitlines()[-1])
    seconds, steady_seconds = float(reply["seconds"]), float(reply["steady_seconds"])
    message = f"  {variant}: {n_lines:,} events in {seconds:.1f} s ({steady_seconds:.1f} s steady)"
    print(message, file=sys.stderr, flush=True)
    return seconds, steady_seconds


if __name__ == "__main__":
    sys.exit(main())
