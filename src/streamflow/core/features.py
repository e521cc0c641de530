"""The model's features, declared by name, and the per-event step that computes them.

A feature is one function ``feature_name(state, event, signals, params) -> float``, decorated
with :func:`feature`: ``state`` is the customer's ``CUSTOMER_STATE`` record *before* the event,
``event`` its ``EVENT_INPUT`` record, ``signals`` what ``signals.assess`` computed for it (a
``SIGNALS`` record) and ``params`` the ``RULE_PARAMS`` record. It is compiled, and registered
under its name. Which features the model reads, in which order, comes from config
(``conf/base/parameters_features.yml``); a :class:`FeatureSet` of those names builds the step.

``FeatureSet.step`` is the core's one definition of an event's step: signals and rule verdicts
(``assess``), the model's features, then the event folded into the state (``fold_event``). Both
paths run it: the batch replay (``FeatureSet.replay``: the Kedro feature table, evaluation,
notebooks) and the stream (``flink_app.scoring_step``). So batch and stream compute the same
numbers because they run the same code.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import sys
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamflow.core.compiled import call_with_literal_key, compiled, compiled_inline, literally, register_overload
from streamflow.core.config import build_dataclass
from streamflow.core.contract import Event
from streamflow.core.errors import ConfigError
from streamflow.core.rules import RuleResult, RulesConfig, blacklisted_ids, rule_params, rule_results
from streamflow.core.signals import EVENT_INPUT, SIGNALS, assess, event_input_of
from streamflow.core.state import (
    CUSTOMER_STATE,
    OUTCOME_INPUT,
    CustomerState,
    fold_event,
    fold_known_customer_outcomes,
    window_totals,
)
from streamflow.core.windows import (
    DEFAULT_WINDOWS,
    TILES_PER_WINDOW,
    check_merchant_lag,
    ring_of,
    tile_length_ms,
    tile_lengths_ms,
    window_length_ms,
)

FEATURES: dict[str, Any] = {}  # every registered feature by name: its compiled function
MERCHANT = "merchant"
MERCHANT_FEATURES: set[str] = set()  # the registered features that read the merchant's state (core.merchant)
OUTCOME_FEATURES: set[str] = set()  # the merchant features that read known outcomes (core.merchant)


def feature(function: Callable[[Any, Any, Any, Any], float]) -> Any:
    """Register ``function(state, event, signals, params) -> float`` as a model feature named after it.

    Its docstring is the feature's definition (``docs/fraud_core.md`` lists the built-in ones).
    Returns the compiled function.

    Raises:
        ConfigError: Another function is registered under the same name.

    """
    name = function.__name__
    registered = FEATURES.get(name)
    if registered is not None and registered.py_func.__module__ != function.__module__:
        first = registered.py_func.__module__
        raise ConfigError(f"feature {name!r} is registered twice: by {first} and {function.__module__}")
    FEATURES[name] = compiled(function)
    return FEATURES[name]


def merchant_feature(function: Callable[[Any, Any, Any, Any], float]) -> Any:
    """Register ``function(state, event, signals, params) -> float`` as a feature of the merchant's state.

    As :func:`feature`, but ``state`` is the merchant's ``MERCHANT_STATE`` record before the
    event and ``params`` the ``MERCHANT_PARAMS`` record (``core.merchant``); ``signals`` is unused.
    """
    compiled_function = feature(function)
    MERCHANT_FEATURES.add(function.__name__)
    return compiled_function


def outcome_feature(function: Callable[[Any, Any, Any, Any], float]) -> Any:
    """Register a merchant feature that reads the outcomes known at the event's time (:func:`merchant_feature`).

    Batch replays outcomes with the events (``core.merchant.merchant_replay``); the stream reads
    them as a second input (ADR 0014), and refuses to start without it.
    """
    compiled_function = merchant_feature(function)
    OUTCOME_FEATURES.add(function.__name__)
    return compiled_function


def customer_outcome_feature(function: Callable[[Any, Any, Any, Any], float]) -> Any:
    """Register a customer feature (:func:`feature`) that reads the outcomes known at the event's time.

    The customer's state folds them (``core.state.fold_known_customer_outcomes``), in batch and stream alike.
    """
    compiled_function = feature(function)
    OUTCOME_FEATURES.add(function.__name__)
    return compiled_function


# --- the built-in features: the first five are signals the rules read too (signals.assess) ---


@feature
def amount_zscore(state: Any, event: Any, signals: Any, params: Any) -> float:
    """(amount - customer mean) / max(customer std, min_std); 0 below two past events."""
    return float(signals["amount_zscore"])


@feature
def velocity_count(state: Any, event: Any, signals: Any, params: Any) -> float:
    """Past events of the customer within the velocity window before this one."""
    return float(signals["velocity_count"])


@feature
def time_deviation(state: Any, event: Any, signals: Any, params: Any) -> float:
    """Hours (0..12) between the local hour and the customer's circular-mean hour; 0 with no history."""
    return float(signals["time_deviation"])


@feature
def geo_speed_kmh(state: Any, event: Any, signals: Any, params: Any) -> float:
    """Speed from the previous event's location; 0 for a customer's first event."""
    return float(signals["geo_speed_kmh"])


@feature
def is_blacklisted(state: Any, event: Any, signals: Any, params: Any) -> float:
    """1.0 if the customer, card or store is blacklisted, else 0.0."""
    return float(signals["is_blacklisted"])


@feature
def amount_ratio(state: Any, event: Any, signals: Any, params: Any) -> float:
    """The amount over the customer's mean amount; 1.0 for a customer's first event."""
    mean = state["amount_mean"]
    return float(event["amount"] / mean) if state["event_count"] >= 1 and mean > 0.0 else 1.0


KNOWN_FRAUD_WINDOW_MS = 30 * 86_400_000


@customer_outcome_feature
def customer_fraud_known_30d(state: Any, event: Any, signals: Any, params: Any) -> float:
    """1.0 if a fraud outcome of one of the customer's transactions became known in the 30 days before this event."""
    known = state["fraud_known_ms"]
    return 1.0 if known > 0 and event["event_time_ms"] - known <= KNOWN_FRAUD_WINDOW_MS else 0.0


def _window_features(label: str) -> None:
    """Register the customer's count, amount sum and mean amount over window ``label`` (``features.windows``)."""
    tile_ms, ring = tile_length_ms(label), ring_of(label)

    @compiled_inline
    def totals(state: Any, event: Any, params: Any) -> tuple[int, float]:
        return window_totals(state, ring(params), tile_ms, event["event_time_ms"])

    def count(state: Any, event: Any, signals: Any, params: Any) -> float:
        return float(totals(state, event, params)[0])

    def amount_sum(state: Any, event: Any, signals: Any, params: Any) -> float:
        return totals(state, event, params)[1]

    def amount_mean(state: Any, event: Any, signals: Any, params: Any) -> float:
        events, total = totals(state, event, params)
        return total / events if events > 0 else 0.0

    definitions = {
        f"customer_count_{label}": (count, "Past events of the customer"),
        f"customer_amount_sum_{label}": (amount_sum, "Sum of the customer's past amounts"),
        f"customer_amount_mean_{label}": (amount_mean, "Mean of the customer's past amounts (0.0 with none)"),
    }
    register_as(definitions, f"in the last {label} before this event (exact to 1/{TILES_PER_WINDOW} of it).", feature)


WINDOW_FAMILIES: list[Callable[[str], None]] = []  # each registers a family of features for a window label
WINDOW_OF: dict[str, str] = {}  # each registered window feature's window label
_registered_windows: list[str] = []


def window_family(register: Callable[[str], None]) -> Callable[[str], None]:
    """Add ``register(label)``, which registers window features for one window label, for every window in use.

    It runs at once for the windows registered so far, then for each new one (:func:`register_windows`).
    """
    WINDOW_FAMILIES.append(register)
    for label in _registered_windows:
        _register_family(register, label)
    return register


def register_windows(labels: Iterable[str]) -> None:
    """Register every window family's features for each of ``labels`` not registered yet.

    Raises:
        ConfigError: A label is not a window (``core.windows.window_length_ms``).

    """
    for label in labels:
        if label in _registered_windows:
            continue
        window_length_ms(label)
        for register in WINDOW_FAMILIES:
            _register_family(register, label)
        _registered_windows.append(label)


def _window_of_name(name: str) -> str | None:
    """The window label a feature name ends with (``customer_count_6h``: ``6h``), if it ends with one."""
    label = name.rpartition("_")[2]
    try:
        window_length_ms(label)
    except ConfigError:
        return None
    return label


def _register_family(register: Callable[[str], None], label: str) -> None:
    before = set(FEATURES)
    register(label)
    WINDOW_OF.update(dict.fromkeys(set(FEATURES) - before, label))


def register_as(
    definitions: Mapping[str, tuple[Callable[..., float], str]], scope: str, register: Callable[[Any], Any]
) -> None:
    """Register each function under its name with ``register``, its docstring what it is then ``scope``."""
    for name, (function, what) in definitions.items():
        function.__name__ = function.__qualname__ = name
        function.__doc__ = f"{what} {scope}"
        register(function)


window_family(_window_features)
register_windows(DEFAULT_WINDOWS)


DEFAULT_FEATURES: tuple[str, ...] = (
    "amount_zscore",
    "velocity_count",
    "time_deviation",
    "geo_speed_kmh",
    "is_blacklisted",
    "amount_ratio",
)
FEATURE_NAMES = DEFAULT_FEATURES  # the default model's input order


@dataclass(frozen=True, slots=True)
class FeaturesConfig:
    """The ``features`` parameters block: the model's features in order, and modules that register more.

    Attributes:
        model: Feature names, in the model's input order: the forest's, and the champion's first.
        champion_only: Features only the supervised champion reads, after ``model``'s (the forest,
            which learns no labels, reads none of them: known outcomes, say).
        modules: Modules imported first; their ``@feature`` functions join the registry.
        merchant_lag_minutes: A merchant feature reads only time tiles that ended at least this
            long before the event (``core.merchant``; at most a quarter of the shortest window:
            15 minutes for 1h).
        windows: The windows the customer's and the merchant's states aggregate over, shortest
            first (``core.windows``): four labels such as ``30m``, ``1h``, ``7d``; each names its
            window features (``customer_count_<label>``, ``merchant_fraud_rate_<label>``, ...).

    """

    model: tuple[str, ...] = DEFAULT_FEATURES
    champion_only: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    merchant_lag_minutes: float = 5.0
    windows: tuple[str, ...] = DEFAULT_WINDOWS

    @classmethod
    def from_dict(cls, block: Mapping[str, Any] | None) -> FeaturesConfig:
        """Build from the ``features`` block; unknown keys, wrong types and bad values are ``ConfigError``s."""
        config = build_dataclass(cls, block, path="features")
        feature_set(config.names, config.modules, config.windows)  # unknown names or windows fail here, at load
        check_merchant_lag(config.merchant_lag_ms, config.windows)
        return config

    @property
    def merchant_lag_ms(self) -> int:
        """``merchant_lag_minutes`` in milliseconds."""
        return round(self.merchant_lag_minutes * 60_000)

    @property
    def names(self) -> tuple[str, ...]:
        """Every feature the pipelines and the stream compute, in order: ``model``'s, then ``champion_only``'s."""
        return (*self.model, *self.champion_only)

    @property
    def feature_set(self) -> FeatureSet:
        """The :class:`FeatureSet` of :attr:`names`."""
        return feature_set(self.names, self.modules, self.windows)


class FeatureSet:
    """The model's features, in order, the windows the states keep, and the key the compiled step is specialised on.

    Args:
        names: Registered feature names, in the model's input order.
        windows: The states' windows (``FeaturesConfig.windows``); a window feature's must be one of them.

    """

    def __init__(self, names: Sequence[str], windows: Sequence[str] = DEFAULT_WINDOWS) -> None:
        self.window_tile_ms = tile_lengths_ms(windows)
        self.windows = tuple(windows)
        # the listed windows' features, and those of any other window an unknown name ends with (refused below)
        named = [label for name in names if name not in FEATURES and (label := _window_of_name(name)) is not None]
        register_windows((*self.windows, *named))
        unknown = [name for name in names if name not in FEATURES]
        if unknown or not names or len(set(names)) != len(names):
            raise ConfigError(
                f"features.model and features.champion_only must list distinct registered features; unknown {unknown} "
                f"(registered: {sorted(FEATURES)})"
            )
        outside = [name for name in names if name in WINDOW_OF and WINDOW_OF[name] not in self.windows]
        if outside:
            raise ConfigError(
                f"features {outside} read windows that features.windows ({list(self.windows)}) does not list",
                key="features.windows",
                expected=f"the windows of {outside}",
                got=list(self.windows),
            )
        self.names = tuple(names)
        self.vector: Any = namedtuple("FeatureVector", self.names)  # type: ignore[misc]
        # the customer's features come from the customer step, the merchant's from the merchant replay
        self.customer_names = tuple(name for name in self.names if name not in MERCHANT_FEATURES)
        self.merchant_names = tuple(name for name in self.names if name in MERCHANT_FEATURES)
        self.outcome_names = tuple(name for name in self.names if name in OUTCOME_FEATURES)
        self.customer_outcome_names = tuple(name for name in self.customer_names if name in OUTCOME_FEATURES)
        self.key = feature_key(self.customer_names)
        self.merchant_key = feature_key(self.merchant_names)

    def check_customer_only(self, who: str) -> None:
        """Refuse merchant features where only the customer's state is kept.

        Raises:
            ConfigError: The list names merchant features.

        """
        if self.merchant_names:
            raise ConfigError(
                f"features.model lists merchant features {list(self.merchant_names)}: {who} keeps only the "
                "customer's state (merchant state in the stream: docs/adr/0012-two-entities-in-the-stream.md)"
            )

    def __repr__(self) -> str:
        windows = "" if self.windows == DEFAULT_WINDOWS else f", windows={list(self.windows)}"
        return f"FeatureSet({list(self.names)}{windows})"


@functools.cache
def feature_set(
    names: Sequence[str] = DEFAULT_FEATURES, modules: Sequence[str] = (), windows: Sequence[str] = DEFAULT_WINDOWS
) -> FeatureSet:
    """The :class:`FeatureSet` of ``names`` over ``windows`` (one per process), after importing ``modules``."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ConfigError(
                f"features.modules: cannot import {module!r} ({error}); is it on the job's path?"
            ) from error
    return FeatureSet(tuple(names), tuple(windows))


def feature_key(names: tuple[str, ...]) -> str:
    """The names, then a digest of the sources of the modules that define them.

    The compiled step is specialised (and cached by numba) on this string: another list, or an
    edited feature module, compiles again.
    """
    modules = sorted({FEATURES[name].py_func.__module__ for name in names})
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(inspect.getfile(sys.modules[module])).read_bytes())
    return ",".join(names) + "@" + digest.hexdigest()[:16]


def _names_of(key: str) -> list[str]:
    names = key.partition("@")[0]
    return names.split(",") if names else []


def compute_features(state: Any, event: Any, signals: Any, params: Any, features: Any, key: str) -> None:
    """``features[i]`` = the ``i``-th feature named in ``key``, called on the event (plain Python without numba)."""
    for index, name in enumerate(_names_of(key)):
        features[index] = FEATURES[name](state, event, signals, params)


def _compiled_features(key: Any) -> Any:
    """Numba's implementation of :func:`compute_features` for one literal ``key``: one direct call per feature."""
    if not isinstance(getattr(key, "literal_value", None), str):
        return None
    chain = _features_from(tuple(FEATURES[name] for name in _names_of(key.literal_value)), 0)

    def implementation(state, event, signals, params, features, key):  # type: ignore[no-untyped-def]  # numba: as typed
        chain(state, event, signals, params, features)

    return implementation


def _features_from(functions: tuple[Any, ...], index: int) -> Any:
    """``features[index:] = [function(...) for function in functions]``, as a chain of compiled calls."""
    if not functions:
        return _no_features
    first, rest = functions[0], _features_from(functions[1:], index + 1)

    @compiled_inline
    def features_of(state: Any, event: Any, signals: Any, params: Any, features: Any) -> None:
        features[index] = first(state, event, signals, params)
        rest(state, event, signals, params, features)

    return features_of


@compiled
def _no_features(state: Any, event: Any, signals: Any, params: Any, features: Any) -> None:
    """The end of a chain of features."""


register_overload(compute_features, lambda state, event, signals, params, features, key: _compiled_features(key))


@compiled
def step(state: Any, event: Any, params: Any, signals: Any, features: Any, key: str) -> None:
    """One event: its signals and the rules' verdicts, the features named in ``key``, then its fold into ``state``.

    The core's one definition of an event's step: the batch replay and the stream both call it.
    """
    assess(state, event, params, signals)
    compute_features(state, event, signals, params, features, literally(key))
    fold_event(
        state,
        event["amount"],
        event["latitude"],
        event["longitude"],
        event["event_time_ms"],
        int(signals["local_hour"]),
        params,
    )


@compiled
def _replay(
    events: Any,
    customers: Any,
    n_customers: int,
    params: Any,
    n_features: int,
    key: str,
    outcomes: Any,
    outcome_bounds: Any,
) -> tuple[Any, Any]:
    states = np.zeros(n_customers, dtype=CUSTOMER_STATE)
    signals = np.zeros(events.shape[0], dtype=SIGNALS)
    features = np.zeros((events.shape[0], n_features), dtype=np.float64)
    next_outcome = outcome_bounds[:-1].copy()  # per customer, its first outcome not folded yet
    for index in range(events.shape[0]):
        customer = customers[index]
        next_outcome[customer], _ = fold_known_customer_outcomes(  # in time order: none too late
            states[customer],
            outcomes,
            next_outcome[customer],
            outcome_bounds[customer + 1],
            events[index]["event_time_ms"],
        )
        step(states[customer], events[index], params[0], signals[index], features[index], key)
    return signals, features


def replay(
    events: NDArray[Any],
    customers: NDArray[np.int64],
    n_customers: int,
    params: NDArray[Any],
    features: FeatureSet,
    outcomes: NDArray[Any] | None = None,
    outcome_customers: NDArray[np.int64] | None = None,
) -> tuple[NDArray[Any], NDArray[np.float64]]:
    """Every event's ``SIGNALS`` record and customer features (``features.customer_names``), one state per customer.

    Before each event, its customer's outcomes known before it are folded (the stream's rule too).

    Args:
        events: ``EVENT_INPUT`` records in the order the stream would take them.
        customers: Each event's customer as an index in ``range(n_customers)``.
        n_customers: How many customers.
        params: The one-record ``RULE_PARAMS`` array, over ``features.windows``.
        features: The model's features.
        outcomes: ``OUTCOME_INPUT`` records of the known outcomes, in ``labelled_at`` order (none: no outcome known).
        outcome_customers: Each outcome's customer as an index in ``range(n_customers)``.

    """
    if not np.array_equal(params[0]["window_tile_ms"], features.window_tile_ms):
        raise ConfigError(f"the params are over other windows than {list(features.windows)}: build them for these")
    known, bounds = outcomes_by_entity(outcomes, outcome_customers, n_customers)
    n_features = len(features.customer_names)
    signals, vectors = _replay(events, customers, n_customers, params, n_features, features.key, known, bounds)
    return signals, vectors


def outcomes_by_entity(
    outcomes: NDArray[Any] | None, entities: NDArray[np.int64] | None, n_entities: int
) -> tuple[NDArray[Any], NDArray[np.int64]]:
    """``OUTCOME_INPUT`` records grouped by entity, each group still in ``labelled_at`` order, and each group's bounds.

    Entity ``e``'s outcomes are ``grouped[bounds[e]:bounds[e + 1]]``.
    """
    if outcomes is None or entities is None:
        outcomes, entities = np.zeros(0, dtype=OUTCOME_INPUT), np.zeros(0, dtype=np.int64)
    by_entity = np.argsort(entities, kind="stable")
    bounds = np.searchsorted(entities[by_entity], np.arange(n_entities + 1)).astype(np.int64)
    return outcomes[by_entity], bounds


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the core concludes about one event."""

    features: tuple[float, ...]  # a FeatureSet.vector: by position or by feature name
    rule_results: tuple[RuleResult, ...]
    rules_score: float

    @property
    def fired_rules(self) -> tuple[RuleResult, ...]:
        """Only the rules that fired."""
        return tuple(result for result in self.rule_results if result.fired)


def event_rule_results(signals: Any, event: Event, config: RulesConfig) -> tuple[RuleResult, ...]:
    """Every rule's result for an event's ``SIGNALS`` record, with the reasons of those that fired."""
    ids = blacklisted_ids(event.customer_id, event.card_id, event.store_id, config.blacklist)
    return rule_results(signals, event.currency, ids, config)


def assessment_of(
    signals: Any, features: Iterable[float], event: Event, config: RulesConfig, chosen: FeatureSet
) -> Assessment:
    """The :class:`Assessment` of an event's ``SIGNALS`` record and feature values."""
    return Assessment(
        chosen.vector(*(float(value) for value in features)),
        event_rule_results(signals, event, config),
        float(signals["rules_score"]),
    )


def process_event(
    state: CustomerState | None, event: Event, config: RulesConfig, features: FeatureSet | None = None
) -> tuple[Assessment, CustomerState]:
    """Assess one event against the customer's state, then fold it in (the given state is not changed).

    Args:
        state: The customer's state before the event (``None`` for a new customer).
        event: The parsed event.
        config: Rule thresholds.
        features: The model's features (default: ``DEFAULT_FEATURES``).

    Returns:
        The assessment (features, rule results, rules score) and the new state.

    """
    chosen = features if features is not None else feature_set()
    chosen.check_customer_only("process_event")
    after = CustomerState() if state is None else state.copy()
    events = np.array([event_input_of(event, config)], dtype=EVENT_INPUT)
    signals = np.zeros(1, dtype=SIGNALS)
    vector = np.zeros(len(chosen.names), dtype=np.float64)
    call_with_literal_key(
        step, after.record[0], events[0], rule_params(config, chosen.windows)[0], signals[0], vector, key=chosen.key
    )
    return assessment_of(signals[0], vector, event, config, chosen), after


def replay_events(
    events: Iterable[Event], config: RulesConfig, features: FeatureSet | None = None
) -> Iterator[tuple[Event, Assessment]]:
    """Assess events one by one, keeping one state per customer, as the stream does.

    Args:
        events: Events in the order the stream would process them (event-time order,
            ties in arrival order); this function does not reorder them.
        config: Rule thresholds.
        features: The model's features (default: ``DEFAULT_FEATURES``).

    Yields:
        Each event with its assessment.

    """
    chosen = features if features is not None else feature_set()
    chosen.check_customer_only("replay_events")
    ordered = list(events)
    customers: dict[str, int] = {}
    index = np.array([customers.setdefault(event.customer_id, len(customers)) for event in ordered], dtype=np.int64)
    inputs = np.array([event_input_of(event, config) for event in ordered], dtype=EVENT_INPUT).reshape(-1)
    signals, vectors = replay(inputs, index, len(customers), rule_params(config, chosen.windows), chosen)
    for event, event_signals, vector in zip(ordered, signals, vectors, strict=True):
        yield event, assessment_of(event_signals, vector, event, config, chosen)
