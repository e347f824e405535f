"""The async engine and its sessions: one engine per process, made from a URL."""

from __future__ import annotations

from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs upstream
from sqlalchemy import event, exc, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

__all__ = [
    "CONNECTION_LOST_SQLSTATES",
    "STORAGE_ERRORS",
    "Sessions",
    "driver_options",
    "make_engine",
    "make_sessionmaker",
    "ping",
]

Sessions = async_sessionmaker[AsyncSession]

# What a database that is down, restarting or out of connections raises. Callers turn these
# into a retryable error; anything else from the database is a bug.
STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.TimeoutError,
    ConnectionError,
    TimeoutError,
    OSError,
)

# SQLSTATE classes of a connection the server ended or refused: 08 (connection exception) and
# 57P (shutdown, "the database system is starting up", ...). asyncpg's errors for these reach
# SQLAlchemy as a plain DBAPIError, which no caller would take for "the database is down".
CONNECTION_LOST_SQLSTATES = ("08", "57P")


def make_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 10, statement_cache: bool = True
) -> AsyncEngine:
    """Create the process's engine for ``url`` (``postgresql+asyncpg://`` or ``sqlite+aiosqlite://``).

    ``pool_size`` and ``max_overflow`` apply to PostgreSQL; keep ``(pool_size + max_overflow) x
    workers x pods`` under the server's ``max_connections`` (or PgBouncer's ``max_client_conn``).
    ``statement_cache=False`` is for a pooler in transaction or statement mode: see
    ``driver_options``.
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    # No pool_pre_ping: it cost a round trip per checkout (about 5 % of classify's CPU,
    # bench/). A connection the server dropped fails its one call with STORAGE_UNAVAILABLE,
    # which callers retry, and _connection_lost then invalidates the whole pool at once.
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        connect_args=driver_options(url, statement_cache=statement_cache),
    )
    event.listen(engine.sync_engine, "handle_error", _connection_lost)
    return engine


def driver_options(url: str, *, statement_cache: bool) -> dict[str, Any]:
    """asyncpg's connect arguments for ``url``; ``{}`` for SQLite or with the caches on.

    With ``statement_cache=False`` no statement outlives its transaction, which a pooler in
    transaction mode requires (PgBouncer 1.18 has no prepared-statement support in that mode):
    it hands each transaction whichever server connection is free, so a statement prepared in
    one transaction is missing in the next (``prepared statement "__asyncpg_stmt_5__" does not
    exist``), and a name another process chose on that server connection may already be taken.
    Off are asyncpg's statement cache (``statement_cache_size``) and SQLAlchemy's
    (``prepared_statement_cache_size``), and each statement is the protocol's unnamed one
    (``prepared_statement_name_func`` returning ``""``): the next statement replaces it, so
    nothing piles up on the server connection as uniquely named statements would (SQLAlchemy's
    asyncpg dialect docs, "Prepared Statement Name with PGBouncer"). The price is a Parse per
    statement. Code on the pool's raw asyncpg connection inherits ``statement_cache_size=0``
    (its ``fetch``/``executemany``/``copy_*`` then use unnamed statements too) and must not
    ``prepare()`` named statements of its own.
    """
    if url.startswith("sqlite") or statement_cache:
        return {}
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": _unnamed,
    }


def _unnamed() -> str:
    return ""


def make_sessionmaker(engine: AsyncEngine) -> Sessions:
    """Sessions that keep their objects readable after commit, for returning them to callers."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> bool:
    """True when the database answers a trivial query."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except STORAGE_ERRORS:
        return False
    return True


def _connection_lost(context: ExceptionContext) -> BaseException | None:
    """Raise a lost or refused connection as ``OperationalError`` and drop it from the pool."""
    sqlstate = getattr(context.original_exception, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(CONNECTION_LOST_SQLSTATES):
        context.is_disconnect = True
    if isinstance(context.original_exception.__cause__, asyncpg.InternalClientError):
        # The driver's protocol is out of step with the server (seen while PostgreSQL shuts
        # down: "another operation is in progress"): that connection can never be used again.
        context.is_disconnect = True
    error = context.sqlalchemy_exception
    if not context.is_disconnect or error is None or isinstance(error, exc.OperationalError):
        return None
    return exc.OperationalError(
        context.statement,
        context.parameters,
        context.original_exception,
        hide_parameters=error.hide_parameters,
        connection_invalidated=True,
    )


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; busy_timeout makes concurrent writers wait
    # for the lock instead of failing at once with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
