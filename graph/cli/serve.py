"""``mlgraph serve``: the GraphQL API under uvicorn.

On SQLite, the embedded default, it first migrates the database itself, as a newcomer expects
of ``make run``-style tools; it says so in the log. PostgreSQL stays explicit (``mlgraph
migrate``, the Kubernetes migration Job): several pods starting at once must never race on the
schema, and an operator decides when a release's migration runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.config
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from sqlalchemy.engine import make_url

from graph.cli._cpus import available_cpus
from graph.cli._database import read_schema
from graph.cli._workers import SocketPerWorker, bind_per_worker, spreads_connections
from graph.middleware.request_log import logging_config
from graph.migrations import alembic_config
from graph.settings import Settings

__all__ = ["serve", "worker_count"]

logger = logging.getLogger("mlgraph.serve")


def serve(settings: Settings, host: str | None, port: int | None, workers: int | None) -> int:
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    logging.config.dictConfig(logging_config(settings.log_level))
    if _is_sqlite_file(settings.database_url):
        migrate_sqlite(settings.database_url)
    count = workers or worker_count(settings)
    connections = count * (settings.database_pool_size + settings.database_max_overflow)
    logger.info(
        "%d worker%s (MLGRAPH_WORKERS=%s)%s",
        count,
        "" if count == 1 else "s",
        settings.workers if workers is None else f"{workers} from --workers",
        "" if _is_sqlite(settings.database_url) else f"; up to {connections} database connections",
        extra={"fields": {"workers": count, "database_connections": connections}},
    )
    options: dict[str, Any] = {
        "factory": True,
        "host": host or settings.host,
        "port": port or settings.port,
        "workers": count,
        "log_level": settings.log_level,
        "log_config": logging_config(settings.log_level),
        # In-flight requests (their commits included) get this long after SIGTERM; keep it
        # under the pod's terminationGracePeriodSeconds.
        "timeout_graceful_shutdown": math.ceil(settings.shutdown_grace_seconds),
        # The process runs behind a Kubernetes Service or a proxy that sets these headers.
        "proxy_headers": True,
        # RequestLog writes each request's line; uvicorn's access log wrote a second one.
        "access_log": False,
    }
    with _metrics_across(count):
        if count == 1 or not spreads_connections():
            uvicorn.run("graph.app:serve_app", **options)
            return 0
        config = uvicorn.Config("graph.app:serve_app", **options)
        try:
            sockets = bind_per_worker(config.host, config.port, count)
        except OSError as error:
            logger.error("cannot listen on %s:%d: %s", config.host, config.port, error)
            return STARTUP_FAILURE
        logger.info(
            "listening on http://%s:%d with a socket per worker (SO_REUSEPORT): the kernel "
            "spreads new connections across the workers",
            config.host,
            sockets[0].getsockname()[1],
        )
        try:
            SocketPerWorker(config, sockets).run()
        finally:
            for sock in sockets:
                sock.close()
    return 0


def worker_count(settings: Settings) -> int:
    """``MLGRAPH_WORKERS``, with ``auto`` decided: one worker per CPU this process may use
    (its affinity and cgroup quota: a Kubernetes CPU limit of 1 gives one), one on SQLite.

    Measured on 2 cores shared with the model server and PostgreSQL (bench/RESULTS.md), two
    workers, each on a socket of its own (graph/cli/_workers.py), answered 16 % more classify
    calls at 32 clients than one, and about the same at one client: a process runs its Python on
    one core, however many the machine has.
    """
    if settings.workers != "auto":
        return settings.workers
    return 1 if _is_sqlite(settings.database_url) else available_cpus()


@contextlib.contextmanager
def _metrics_across(workers: int) -> Iterator[None]:
    """With several workers, give prometheus-client a directory to share, unless the operator
    named one: each worker keeps its own counts, and a scrape must sum them all
    (graph/routes/metrics.py), not show whichever worker answered."""
    if workers == 1 or "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        yield
        return
    folder = tempfile.mkdtemp(prefix="mlgraph-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    logger.info("metrics of the %d workers are kept in %s", workers, folder)
    try:
        yield
    finally:
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        shutil.rmtree(folder, ignore_errors=True)


def migrate_sqlite(url: str) -> None:
    """Bring an SQLite database to head before any worker starts (so workers never race)."""
    from alembic import command

    state = asyncio.run(read_schema(url))
    if state.usable:
        return
    command.upgrade(alembic_config(url), "head")
    logger.info(
        "migrated the database (%s) from revision %s to %s; PostgreSQL is only ever migrated "
        "by `mlgraph migrate`",
        state.where,
        state.current or "base (no tables)",
        state.head,
        extra={"fields": {"database": state.where, "from": state.current, "to": state.head}},
    )


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _is_sqlite_file(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
