"""``mlgraph serve``: the GraphQL API under uvicorn.

On SQLite, the embedded default, it first migrates the database itself, as a newcomer expects
of ``make run``-style tools; it says so in the log. PostgreSQL stays explicit (``mlgraph
migrate``, the Kubernetes migration Job): several pods starting at once must never race on the
schema, and an operator decides when a release's migration runs.
"""

from __future__ import annotations

import asyncio
import logging
import logging.config
import math

from sqlalchemy.engine import make_url

from graph.cli._database import read_schema
from graph.middleware.request_log import logging_config
from graph.migrations import alembic_config
from graph.settings import Settings

__all__ = ["serve"]

logger = logging.getLogger("mlgraph.serve")


def serve(settings: Settings, host: str | None, port: int | None, workers: int | None) -> int:
    import uvicorn

    logging.config.dictConfig(logging_config(settings.log_level))
    if _is_sqlite_file(settings.database_url):
        migrate_sqlite(settings.database_url)
    uvicorn.run(
        "graph.app:serve_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_level),
        # In-flight requests (their commits included) get this long after SIGTERM; keep it
        # under the pod's terminationGracePeriodSeconds.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
        # The process runs behind a Kubernetes Service or a proxy that sets these headers.
        proxy_headers=True,
    )
    return 0


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


def _is_sqlite_file(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
