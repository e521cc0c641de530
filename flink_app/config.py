"""Configuration of the stream job: ``conf/<env>/stream.yml`` plus the shared rules and contract.

``conf/base`` is read first and ``conf/<env>`` merged over it key by key; ``${oc.env:NAME}``
reads the environment (OmegaConf), so production values come from the deployment.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.resolvers import oc

from streamflow.core import ContractConfig, FeaturesConfig, RulesConfig
from streamflow.core.config import build_dataclass
from streamflow.core.errors import ConfigError
from streamflow.core.windows import window_length_ms

DEFAULT_CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
PROJECT_ROOT = DEFAULT_CONF_DIR.parent
EXECUTION_MODES = ("thread", "process")
STATE_BACKENDS = ("hashmap", "rocksdb")
IO_KINDS = ("files", "kafka")
RESTART_STRATEGIES = ("fixed-delay", "exponential-delay", "none")
STARTING_OFFSETS = ("committed", "earliest", "latest")
# How raw lines reach the scoring function (flink_app.keying): in mini-batches per shard of customers
# cut in the JVM, or one by one keyed by customer in the JVM or in Python.
KEYINGS = ("mini_batch", "jvm", "python")


@dataclass(frozen=True)
class ModelSettings:
    """Which bundle to load, and whether the job may run without one."""

    path: str | None = "latest"
    bundles_dir: str = "data/06_models/model_bundle"
    required: bool = False


@dataclass(frozen=True)
class EventTimeSettings:
    """Event time: the watermark's bound (older events are flagged late) and the dedup window."""

    max_out_of_orderness_seconds: float = 60.0
    dedup_window_hours: float = 2160.0

    def __post_init__(self) -> None:
        if self.max_out_of_orderness_seconds < 0 or self.dedup_window_hours <= 0:
            raise ConfigError(
                "stream.event_time needs max_out_of_orderness_seconds >= 0 and dedup_window_hours > 0, got "
                f"{self.max_out_of_orderness_seconds} and {self.dedup_window_hours}"
            )

    @property
    def max_out_of_orderness_ms(self) -> int:
        """The watermark's bound in milliseconds."""
        return int(self.max_out_of_orderness_seconds * 1000)

    @property
    def dedup_window_ms(self) -> int:
        """The dedup window in milliseconds."""
        return int(self.dedup_window_hours * 3_600_000)


@dataclass(frozen=True)
class CheckpointSettings:
    """Exactly-once checkpoints and where they are kept."""

    interval_ms: int = 5_000
    mode: str = "EXACTLY_ONCE"
    dir: str | None = None  # None: with the run (files: <output>/state/checkpoints; see flink_app.__main__)
    retention: str = "RETAIN_ON_CANCELLATION"
    min_pause_ms: int = 1_000
    timeout_ms: int = 600_000


@dataclass(frozen=True)
class RestartSettings:
    """How often Flink restarts a failing job before it fails for good (never for ever).

    ``fixed-delay``: ``attempts`` restarts, ``delay_ms`` apart. ``exponential-delay``: the delay
    doubles (``backoff_multiplier``) from ``delay_ms`` up to ``max_delay_ms``; ``attempts``
    restarts without ``reset_after_ms`` of healthy running in between fail the job. ``none``: the
    first failure is final.
    """

    strategy: str = "fixed-delay"
    attempts: int = 2
    delay_ms: int = 1_000
    max_delay_ms: int = 60_000
    backoff_multiplier: float = 2.0
    reset_after_ms: int = 3_600_000

    def __post_init__(self) -> None:
        if self.strategy not in RESTART_STRATEGIES:
            raise ConfigError(
                f"stream.restart.strategy is {self.strategy!r}; expected one of {list(RESTART_STRATEGIES)}",
                key="stream.restart.strategy",
                expected=" | ".join(RESTART_STRATEGIES),
                got=self.strategy,
            )
        if self.attempts < 0 or self.delay_ms < 0 or self.max_delay_ms < self.delay_ms or self.backoff_multiplier < 1:
            raise ConfigError(
                "stream.restart needs attempts >= 0, delay_ms >= 0, max_delay_ms >= delay_ms and "
                f"backoff_multiplier >= 1, got {self.attempts}, {self.delay_ms}, {self.max_delay_ms} and "
                f"{self.backoff_multiplier}",
                key="stream.restart",
            )

    def flink_settings(self) -> dict[str, str]:
        """Flink's ``restart-strategy.*`` keys for this strategy."""
        if self.strategy == "none":
            return {"restart-strategy.type": "none"}
        if self.strategy == "fixed-delay":
            return {
                "restart-strategy.type": "fixed-delay",
                "restart-strategy.fixed-delay.attempts": str(self.attempts),
                "restart-strategy.fixed-delay.delay": f"{self.delay_ms} ms",
            }
        prefix = "restart-strategy.exponential-delay"
        return {
            "restart-strategy.type": "exponential-delay",
            f"{prefix}.attempts-before-reset-backoff": str(self.attempts),
            f"{prefix}.initial-backoff": f"{self.delay_ms} ms",
            f"{prefix}.max-backoff": f"{self.max_delay_ms} ms",
            f"{prefix}.backoff-multiplier": str(self.backoff_multiplier),
            f"{prefix}.reset-backoff-threshold": f"{self.reset_after_ms} ms",
        }


@dataclass(frozen=True)
class MiniBatchSettings:
    """Mini-batches (``keying: mini_batch``): lines per batch, the longest a line waits, shards, cached slots."""

    size: int = 64
    allow_latency_ms: int = 100
    shards: int = 128
    cached_customers: int = 100_000

    def __post_init__(self) -> None:
        if min(self.size, self.allow_latency_ms, self.shards) < 1 or self.cached_customers < 0:
            raise ConfigError(
                "stream.mini_batch needs size, allow_latency_ms and shards >= 1 and cached_customers >= 0, got "
                f"{self.size}, {self.allow_latency_ms}, {self.shards} and {self.cached_customers}"
            )


@dataclass(frozen=True)
class KafkaSettings:
    """Kafka servers, topics, the connector jar and the clients' own properties (production I/O).

    ``properties`` are Kafka client settings given to the source and every sink as they are
    (``security.protocol``, ``sasl.mechanism``, ``sasl.jaas.config``, ``ssl.truststore.*``...);
    secrets reach them from the environment (``${oc.env:NAME}``), never from the file.
    ``connector_jar`` is a path (relative: under the project) or a ``file://`` URI;
    ``partitions`` is what topics get when they are created here (``make kafka-demo``, tests);
    ``outcomes_topic`` holds the outcomes of the label contract, one JSON object a record (``make
    kafka-demo`` produces the landed outcomes there); the job reads it with ``read_outcomes`` (ADR 0014).
    """

    bootstrap_servers: str = "localhost:9092"
    group_id: str = "streamflow-scoring"
    starting_offsets: str = "committed"
    connector_jar: str | None = None
    partitions: int = 6
    outcomes_topic: str = "transaction-outcomes"
    read_outcomes: bool = False
    transactional_id_prefix: str = "streamflow-scoring"
    transaction_timeout_ms: int = 900_000  # within the brokers' default transaction.max.timeout.ms
    topics: dict[str, str] = field(
        default_factory=lambda: {
            "transactions": "transactions",
            "scored": "transactions-scored",
            "alerts": "fraud-alerts",
            "dead_letters": "transactions-dlq",
        }
    )
    properties: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.starting_offsets not in STARTING_OFFSETS:
            raise ConfigError(
                f"stream.kafka.starting_offsets is {self.starting_offsets!r}; expected one of {list(STARTING_OFFSETS)}",
                key="stream.kafka.starting_offsets",
                expected=" | ".join(STARTING_OFFSETS),
                got=self.starting_offsets,
            )
        if self.partitions < 1:
            raise ConfigError(f"stream.kafka.partitions must be at least 1, got {self.partitions}")


@dataclass(frozen=True)
class JobSettings:
    """The ``stream`` block of ``conf/<env>/stream.yml``."""

    job_name: str = "streamflow-scoring"
    python_execution_mode: str = "thread"
    parallelism: int = 1
    keying: str = "mini_batch"
    mini_batch: MiniBatchSettings = field(default_factory=MiniBatchSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    rules_only_threshold: float = 0.5
    event_time: EventTimeSettings = field(default_factory=EventTimeSettings)
    state_ttl_days: float = 90.0
    checkpoint: CheckpointSettings = field(default_factory=CheckpointSettings)
    restart: RestartSettings = field(default_factory=RestartSettings)
    state_backend: str = "hashmap"
    io: str = "files"
    kafka: KafkaSettings = field(default_factory=KafkaSettings)

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("python_execution_mode", self.python_execution_mode, EXECUTION_MODES),
            ("state_backend", self.state_backend, STATE_BACKENDS),
            ("io", self.io, IO_KINDS),
            ("keying", self.keying, KEYINGS),
        ):
            if value not in allowed:
                raise ConfigError(f"stream.{name} is {value!r}; expected one of {list(allowed)}")
        if self.keying == "mini_batch" and self.mini_batch.shards < self.parallelism:
            raise ConfigError(
                f"stream.mini_batch.shards ({self.mini_batch.shards}) is below stream.parallelism "
                f"({self.parallelism}): some scoring tasks would get no customers"
            )


@dataclass(frozen=True)
class StreamConfig:
    """Everything the job reads from ``conf/``: rules, contract, job settings and the model's features."""

    rules: RulesConfig
    contract: ContractConfig
    job: JobSettings
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    project_root: Path = PROJECT_ROOT  # relative paths in config (bundles, checkpoints) are under it

    def with_checkpoint_dir(self, location: str) -> StreamConfig:
        """The same configuration, checkpointing to ``location``."""
        return self.overridden(checkpoint_dir=location)

    def overridden(
        self,
        *,
        checkpoint_dir: str | None = None,
        checkpoint_interval_ms: int | None = None,
        model_required: bool | None = None,
        keying: str | None = None,
        parallelism: int | None = None,
    ) -> StreamConfig:
        """The same configuration with the given settings replaced (``None`` keeps one)."""
        checkpoint = self.job.checkpoint
        checkpoint = replace(
            checkpoint,
            dir=checkpoint_dir if checkpoint_dir is not None else checkpoint.dir,
            interval_ms=checkpoint_interval_ms if checkpoint_interval_ms is not None else checkpoint.interval_ms,
        )
        model = self.job.model
        model = replace(model, required=model_required if model_required is not None else model.required)
        job = replace(
            self.job,
            checkpoint=checkpoint,
            model=model,
            keying=keying or self.job.keying,
            parallelism=parallelism or self.job.parallelism,
        )
        return replace(self, job=job)


def load_config(conf_dir: Path = DEFAULT_CONF_DIR, env: str = "base") -> StreamConfig:
    """Rules and contract from ``parameters*.yml``, job settings from ``stream*.yml``, ``base`` then ``env``."""
    folders = [conf_dir / name for name in dict.fromkeys(["base", env])]
    parameters = _merged(path for folder in folders for path in sorted(folder.glob("parameters*.yml")))
    stream = _merged(path for folder in folders for path in sorted(folder.glob("stream*.yml")))
    features = FeaturesConfig.from_dict(parameters.get("features"))
    job = job_settings(stream.get("stream") or {})
    merchant_names = features.feature_set.merchant_names
    if merchant_names and job.keying != "mini_batch":  # refused at load, before a job starts
        raise ConfigError(
            f"features.model lists merchant features {list(merchant_names)}: the merchant stage needs "
            f"stream.keying: mini_batch, not {job.keying!r} (docs/adr/0012-two-entities-in-the-stream.md)"
        )
    longest_window = features.windows[-1]
    if window_length_ms(longest_window) > job.state_ttl_days * 86_400_000:  # an idle entity's tiles would expire
        raise ConfigError(
            f"features.windows reads {longest_window}, longer than stream.state_ttl_days ({job.state_ttl_days:g}): "
            "an entity idle that long would lose tiles batch still counts",
            key="features.windows",
            expected=f"at most {job.state_ttl_days:g}d",
            got=longest_window,
        )
    return StreamConfig(
        rules=RulesConfig.from_dict(parameters.get("fraud_rules")),
        contract=ContractConfig.from_dict(parameters.get("event_contract")),
        job=job,
        features=features,
        project_root=conf_dir.resolve().parent,
    )


def check_outcome_input(features: FeaturesConfig, *, reads_outcomes: bool) -> None:
    """Refuse a model that reads known outcomes (``merchant_fraud_*``) in a job that reads none: they would all be 0."""
    outcome_features = features.feature_set.outcome_names
    if outcome_features and not reads_outcomes:
        raise ConfigError(
            f"features.model reads known outcomes {list(outcome_features)}: give the job its outcomes "
            "(--labels in files mode; stream.kafka.read_outcomes: true in Kafka mode; docs/adr/0014)"
        )


def job_settings(block: dict[str, Any]) -> JobSettings:
    """``JobSettings`` from the ``stream`` block: unknown keys and wrong types rejected at every level."""
    return build_dataclass(JobSettings, block, path="stream")


def _merged(paths: Any) -> dict[str, Any]:
    """Deep-merge YAML files in order and resolve ``${oc.env:...}`` interpolations."""
    if not OmegaConf.has_resolver("oc.env"):  # Kedro's config loader removes it outside credentials
        OmegaConf.register_new_resolver("oc.env", oc.env)
    merged: Any = OmegaConf.create()
    for path in paths:
        merged = OmegaConf.merge(merged, OmegaConf.create(yaml.safe_load(path.read_text(encoding="utf-8")) or {}))
    resolved = OmegaConf.to_container(merged, resolve=True)
    assert isinstance(resolved, dict)
    return {str(key): value for key, value in resolved.items()}


def resolve_model(argument: str | None, bundles: Path) -> str | None:
    """A bundle folder, ``latest`` (the newest version under ``bundles``), or nothing (rules only)."""
    if argument != "latest":
        return argument
    versions = sorted(bundles.glob("*/model_bundle/manifest.json"))
    if not versions:
        raise FileNotFoundError(f"no model bundle under {bundles}; train one with: kedro run --pipelines model")
    return str(versions[-1].parent)


def project_path(value: str, root: Path = PROJECT_ROOT) -> str:
    """A path from config: URIs and absolute paths as they are, relative ones under the project ``root``."""
    if "://" in value or Path(value).is_absolute():
        return value
    return str(root / value)


def connector_path(kafka: KafkaSettings) -> str:
    """The Kafka connector jar as a local path (``stream.kafka.connector_jar``: a path or a ``file://`` URI)."""
    jar = kafka.connector_jar
    if not jar or ("://" in jar and not jar.startswith("file://")):
        raise ConfigError(
            f"stream.kafka.connector_jar is {jar!r}: Kafka mode needs the flink-sql-connector-kafka jar as a "
            "path or a file:// URI (make kafka-artifacts fetches it into .build/kafka/connector)",
            key="stream.kafka.connector_jar",
            expected="a path or a file:// URI",
            got=str(jar),
        )
    return project_path(jar.removeprefix("file://"))


def checkpoint_uri(settings: CheckpointSettings) -> str:
    """The checkpoint folder as a URI Flink accepts (a local folder becomes ``file://``)."""
    if settings.dir is None:
        raise ConfigError(
            "stream.checkpoint.dir is not set: give --checkpoint-dir or --state-dir, or set it in stream.yml",
            key="stream.checkpoint.dir",
            expected="a folder or a URI",
        )
    location = project_path(settings.dir)
    return location if "://" in location else Path(location).as_uri()


def flink_settings(job: JobSettings) -> dict[str, str]:
    """The Flink configuration keys the job sets from ``stream.yml``.

    The same keys appear in the ``FlinkDeployment``'s ``flinkConfiguration`` (``k8s/``), and
    a test checks that they agree with the production config.
    """
    checkpoint = job.checkpoint
    return {
        "pipeline.name": job.job_name,
        "python.execution-mode": job.python_execution_mode,
        "parallelism.default": str(job.parallelism),
        "execution.checkpointing.interval": f"{checkpoint.interval_ms} ms",
        "execution.checkpointing.mode": checkpoint.mode,
        "execution.checkpointing.dir": checkpoint_uri(checkpoint),
        "execution.checkpointing.externalized-checkpoint-retention": checkpoint.retention,
        "execution.checkpointing.min-pause": f"{checkpoint.min_pause_ms} ms",
        "execution.checkpointing.timeout": f"{checkpoint.timeout_ms} ms",
        "state.backend.type": job.state_backend,
        **job.restart.flink_settings(),
    }
