"""Performance figures beside their targets and baselines: ``make bench``.

Prints medians over repeated runs (the machines are shared and noisy). Not a test:
nothing here fails a build; the figures go into issue notes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

from kedro_datasets.partitions import PartitionedDataset

from streamflow.core import ContractConfig, RulesConfig, parse_event, process_event
from streamflow.generator import GeneratorConfig, generate_stream

GENERATION_TARGET_S = 30.0
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


def main(argv: list[str] | None = None) -> None:
    """Run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="events to generate (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is reported")
    args = parser.parse_args(argv)
    print(
        f"StreamFlow benchmarks (median of {args.repeats}; command: python -m streamflow.bench "
        f"--events {args.events} --repeats {args.repeats})"
    )
    bench_core(max(args.repeats, 5))
    bench_generation(args.events, args.repeats)


if __name__ == "__main__":
    main()
