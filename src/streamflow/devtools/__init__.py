"""Developer tools: benchmarks, the lineage site's build and check, scratch copies of the project.

``bench`` (batch figures) and ``stream_benchmark`` with ``kafka_benchmark`` (stream figures) are what
``make bench`` runs; ``lineage`` is ``make viz``; ``scratch`` makes the throwaway Kedro projects
the benchmarks and tests run in. Run from a checkout, with the dev dependencies. Neither the
pipelines, the hooks nor the Flink job import anything here: the tools may import them, never the
other way round.
"""
