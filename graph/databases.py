"""The engines a process opens, from the settings: the primary, or a replica for reads.

Which reads may go to ``MLGRAPH_DATABASE_READ_URL`` (a streaming replica, behind the primary by
its replication lag) and which must see the primary is decided where the sessions are used:
history, statistics, drift, performance and export read the replica; classify's replay by
request id, ``prediction(id)``, ``recordActual``, the feedback route, API keys and the live feed
read the primary, because each must find a row the moment its writer was answered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import db

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from graph.settings import Settings

__all__ = ["open_engine"]


def open_engine(
    settings: Settings,
    *,
    read: bool = False,
    pool_size: int | None = None,
    max_overflow: int | None = None,
) -> AsyncEngine:
    """An engine on the primary (``MLGRAPH_DATABASE_URL``), or with ``read`` on the read
    replica when one is set (else the primary too).

    Pool sizes default to ``MLGRAPH_DATABASE_POOL_SIZE`` and ``MLGRAPH_DATABASE_MAX_OVERFLOW``;
    ``MLGRAPH_DATABASE_STATEMENT_CACHE`` applies to both URLs, as either may be a pooler.
    """
    url = settings.read_url if read else settings.database_url
    return db.make_engine(
        url,
        pool_size=settings.database_pool_size if pool_size is None else pool_size,
        max_overflow=settings.database_max_overflow if max_overflow is None else max_overflow,
        statement_cache=settings.database_statement_cache,
    )
