"""``GET /metrics``: the Prometheus text format of every metric in graph/metrics.py."""

from __future__ import annotations

import asyncio
import math
import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

import db
from graph.metrics import REGISTRY, REPLICA_LAG
from graph.migrations import DATABASE_ERRORS

__all__ = ["metrics_endpoint"]


# A replica that does not answer must not hold the scrape up: Prometheus' own timeout is 10 s.
_LAG_TIMEOUT = 2.0


async def metrics_endpoint(request: Request) -> Response:
    read_engine = request.state.read_engine
    if read_engine is not None:
        REPLICA_LAG.labels("replica").set(await _replica_lag(read_engine))
    registry = REGISTRY
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        # With several workers each writes its own files; a scrape sums them all.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def _replica_lag(engine: AsyncEngine) -> float:
    try:
        lag = await asyncio.wait_for(db.replicas.replay_lag_seconds(engine), _LAG_TIMEOUT)
    except DATABASE_ERRORS:  # down or refusing: /readyz says which
        return math.nan
    return math.nan if lag is None else lag
