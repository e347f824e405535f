"""Prometheus metrics, served at ``/metrics`` (graph/routes/metrics.py).

Metrics are process-wide by nature, so they live at module level in one registry. With
several uvicorn workers, set ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess
mode) so a scrape sums every worker instead of seeing whichever one answered.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.websockets import WebSocket

from monitoring.drift import StatTest

if TYPE_CHECKING:
    from graph.types.drift import ColumnDrift

__all__ = [
    "CLASSIFY_CALLS_PER_COMMIT",
    "CLASSIFY_DB_SECONDS",
    "CLASSIFY_MODEL_SECONDS",
    "DRIFT_DETECTED",
    "DRIFT_SCORE",
    "LIVE_DROPPED",
    "LIVE_SUBSCRIBERS",
    "MODEL_BATCH_WAIT_SECONDS",
    "MODEL_ERRORS",
    "MODEL_ROWS_PER_CALL",
    "OPERATIONS",
    "PREDICTIONS",
    "PROTOCOL_REQUESTS",
    "REGISTRY",
    "count_predictions",
    "observe_model_call",
    "observe_write",
    "outcome",
    "record_drift",
    "record_operation",
    "record_route",
    "watch_pool",
]

REGISTRY = CollectorRegistry(auto_describe=True)

OPERATIONS = Counter(
    "mlgraph_graphql_operations",
    "GraphQL operations by name and outcome (ok or the first error code).",
    ["operation", "outcome"],
    registry=REGISTRY,
)
# Buckets from 1 ms: a local model answers in a few ms, a remote one in tens.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
CLASSIFY_MODEL_SECONDS = Histogram(
    "mlgraph_classify_model_seconds",
    "Duration of the model call in classify.",
    ["model"],
    buckets=_BUCKETS,
    registry=REGISTRY,
)
CLASSIFY_DB_SECONDS = Histogram(
    "mlgraph_classify_db_seconds",
    "Duration of the database write (commit included) in classify.",
    ["model"],
    buckets=_BUCKETS,
    registry=REGISTRY,
)
CLASSIFY_CALLS_PER_COMMIT = Histogram(
    "mlgraph_classify_calls_per_commit",
    "Classify calls stored by one transaction (group commit: above 1 when calls arrive together).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=REGISTRY,
)
MODEL_ROWS_PER_CALL = Histogram(
    "mlgraph_model_rows_per_call",
    "Rows sent in one model request (several classify calls' rows when batching coalesced them).",
    ["model"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
    registry=REGISTRY,
)
MODEL_BATCH_WAIT_SECONDS = Histogram(
    "mlgraph_model_batch_wait_seconds",
    "Time a classify call waited for its model request to go (0: the model was idle).",
    ["model"],
    buckets=(0, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
    registry=REGISTRY,
)
PREDICTIONS = Counter(
    "mlgraph_predictions",
    "Stored predictions by model and predicted label.",
    ["model", "label"],
    registry=REGISTRY,
)
MODEL_ERRORS = Counter(
    "mlgraph_model_errors",
    "Failed model calls by model and error code.",
    ["model", "code"],
    registry=REGISTRY,
)
PROTOCOL_REQUESTS = Counter(
    "mlgraph_protocol_requests",
    "Requests to the Seldon v1 and Open Inference Protocol (V2) routes by route and outcome "
    "(ok or the error code).",
    ["route", "outcome"],
    registry=REGISTRY,
)
LIVE_DROPPED = Counter(
    "mlgraph_live_dropped",
    "Live prediction notices dropped because a subscriber's queue was full "
    "(that subscriber then catches up from the database).",
    registry=REGISTRY,
)
LIVE_SUBSCRIBERS = Gauge(
    "mlgraph_live_subscribers",
    "Open predictionAdded subscriptions.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
# Read at each scrape of /metrics (graph/routes/metrics.py); labelled, so that a process without
# a replica exports no sample rather than a lag of 0.
REPLICA_LAG = Gauge(
    "mlgraph_db_replica_lag_seconds",
    "How far the read replica's replay is behind the primary, read at scrape time (NaN when the "
    "replica does not answer).",
    ["database"],
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
# The latest drift figures per column: feature is its position, or "label" for the predicted
# label, and name its name (the label's is "label"). Names come from the models' stored schemas,
# never from a request, so the set of series stays bounded.
DRIFT_SCORE = Gauge(
    "mlgraph_drift_score",
    "Latest drift test value per model and column (p-value for ks/chisquare/ztest: drift when "
    "small; else a distance: drift when large).",
    ["model", "feature", "name", "test"],
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
DRIFT_DETECTED = Gauge(
    "mlgraph_drift_detected",
    "1 when the latest drift test flagged the column, else 0.",
    ["model", "feature", "name"],
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)


# Children of the labelled metrics the classify path updates, each looked up once: labels()
# takes a lock and builds a key on every call (about 1 % of classify's CPU under load).
_SERIES: dict[tuple[object, ...], Any] = {}


def _series(metric: Any, *labels: str) -> Any:
    key = (metric, *labels)
    series = _SERIES.get(key)
    if series is None:
        series = _SERIES[key] = metric.labels(*labels)
    return series


def observe_model_call(model: str, seconds: float) -> None:
    """One classify call's model time (``mlgraph_classify_model_seconds``)."""
    _series(CLASSIFY_MODEL_SECONDS, model).observe(seconds)


def observe_write(model: str, seconds: float) -> None:
    """One classify call's database write (``mlgraph_classify_db_seconds``)."""
    _series(CLASSIFY_DB_SECONDS, model).observe(seconds)


def count_predictions(model: str, labels: Iterable[str]) -> None:
    """Stored predictions, by model and predicted label (the model's classes: a bounded set)."""
    for label, count in collections.Counter(labels).items():
        _series(PREDICTIONS, model, label).inc(count)


def record_drift(model: str, features: Iterable[ColumnDrift], label: ColumnDrift) -> None:
    """Set the drift gauges from one drift computation (every tested column of ``model``)."""
    for column in [*features, label]:
        feature = "label" if column.feature is None else str(column.feature)
        name = column.name if column.name is not None else "label"
        test = column.test
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:  # removal is single-process only
            # Only the latest test's series: a query with another test must not leave the old one.
            for other in StatTest:
                if other is not test:
                    DRIFT_SCORE.remove(model, feature, name, other.value)
        DRIFT_SCORE.labels(model, feature, name, test.value).set(column.value)
        DRIFT_DETECTED.labels(model, feature, name).set(int(column.drifted))


class _PoolCollector(Collector):
    """Reads the connection pools at scrape time, so nothing is updated on the hot path."""

    def __init__(self) -> None:
        # By the database they reach: "primary", and "replica" when reads have their own.
        self.engines: dict[str, AsyncEngine] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "mlgraph_db_pool_connections",
            "Database pool connections by database (primary or replica) and state.",
            labels=["database", "state"],
        )
        for database, engine in self.engines.items():
            pool: Any = engine.pool
            if not hasattr(pool, "checkedout"):  # a pool that keeps no counts (NullPool)
                continue
            family.add_metric([database, "checked_out"], pool.checkedout())
            family.add_metric([database, "idle"], pool.checkedin())
            family.add_metric([database, "size"], pool.size())
        if family.samples:
            yield family


_POOL = _PoolCollector()
REGISTRY.register(_POOL)


def watch_pool(engine: AsyncEngine, *, replica: AsyncEngine | None = None) -> None:
    """Report the process's pools at ``/metrics``: its engine's, and the read replica's."""
    engines = {"primary": engine}
    if replica is not None:
        engines["replica"] = replica
    _POOL.engines = engines


def outcome(errors: Sequence[GraphQLError]) -> str:
    """``ok``, or the first error's code."""
    return str((errors[0].extensions or {}).get("code", "INTERNAL")) if errors else "ok"


def record_operation(
    request: Request | WebSocket | None, name: str, result: str, *, graphql_ms: float | None = None
) -> None:
    """Count an operation, and hand its name and outcome to the request log (``RequestLog``)
    through the ASGI scope's state."""
    OPERATIONS.labels(name, result).inc()
    if request is not None:
        request.state.graphql = {"operation": name, "outcome": result, "graphql_ms": graphql_ms}


def record_route(request: Request, route: str, result: str, *, model: str | None = None) -> None:
    """Count a protocol route's request, and hand its route, model and outcome to the request
    log (``RequestLog``) as ``record_operation`` does for GraphQL."""
    PROTOCOL_REQUESTS.labels(route, result).inc()
    fields = {"route": route, "outcome": result}
    if model is not None:
        fields["model"] = model
    request.state.route = fields
